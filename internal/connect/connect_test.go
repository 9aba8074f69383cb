package connect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/connect"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testcert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, kafkatest.IgnoreMetricsTicker)
}

// base is a sarama configuration as sluice's clients get it, with few
// retries so that a refused connection fails fast.
func base() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_8_0_0
	c.ClientID = "connect-test"
	c.Metadata.Retry.Max = 0
	c.Net.DialTimeout = 5 * time.Second
	return c
}

// both connects a sarama client and a franz-go client to addrs with sec
// applied, asks each for the cluster's brokers, and returns their errors.
func both(t *testing.T, addrs []string, sec connect.Security) (saramaErr, franzErr error) {
	t.Helper()
	cfg, err := connect.Apply(base(), sec)
	if err != nil {
		t.Fatalf("Apply(%+v) = %v", sec, err)
	}
	sc, err := sarama.NewClient(addrs, cfg)
	if err == nil {
		if len(sc.Brokers()) == 0 {
			err = errors.New("sarama: no brokers")
		}
		sc.Close()
	}
	saramaErr = connect.Check(err)
	cl, err := connect.NewClient(addrs, cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).ListBrokers(ctx)
	return saramaErr, connect.Check(err)
}

// TestSecurityOnEmbeddedBroker connects sarama and franz-go clients, set up
// by one Security, to the embedded broker serving TLS, mutual TLS and each
// SASL mechanism, with the right credentials and with wrong ones.
func TestSecurityOnEmbeddedBroker(t *testing.T) {
	certs, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.New(t.TempDir()) // a CA the broker's certificate is not from
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		broker []broker.Option
		sec    connect.Security
		want   error // of the franz-go client; and of sarama's, unless sarama says nothing
		// saramaVague: sarama reports only that no broker answered. It drops
		// a handshake's error code, and with TLS 1.3 it writes its first
		// request before it reads the broker's alert about its certificate.
		// The franz-go clients, which sluice's Run dials with first, tell.
		saramaVague bool
	}{
		{"TLS", []broker.Option{broker.TLS(certs.ServerTLS(false))},
			connect.Security{Protocol: "SSL", CAFile: certs.CAFile}, nil, false},
		{"TLS untrusted", []broker.Option{broker.TLS(certs.ServerTLS(false))},
			connect.Security{Protocol: "SSL", CAFile: other.CAFile}, connect.ErrTLS, false},
		{"mTLS", []broker.Option{broker.TLS(certs.ServerTLS(true))},
			connect.Security{CAFile: certs.CAFile, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}, nil, false},
		{"mTLS without a client certificate", []broker.Option{broker.TLS(certs.ServerTLS(true))},
			connect.Security{Protocol: "SSL", CAFile: certs.CAFile}, connect.ErrTLS, true},
		{"mTLS with an untrusted client certificate", []broker.Option{broker.TLS(certs.ServerTLS(true))},
			connect.Security{CAFile: certs.CAFile, CertFile: other.ClientCert, KeyFile: other.ClientKey}, connect.ErrTLS, true},
		{"PLAIN", []broker.Option{broker.SASL("PLAIN", "alice", "secret")},
			connect.Security{Protocol: "SASL_PLAINTEXT", Mechanism: "PLAIN", Username: "alice", Password: "secret"}, nil, false},
		{"PLAIN wrong password", []broker.Option{broker.SASL("PLAIN", "alice", "secret")},
			connect.Security{Protocol: "SASL_PLAINTEXT", Username: "alice", Password: "wrong"}, connect.ErrAuthentication, false},
		{"SCRAM-SHA-256", []broker.Option{broker.SASL("SCRAM-SHA-256", "bob", "secret")},
			connect.Security{Mechanism: "SCRAM-SHA-256", Username: "bob", Password: "secret"}, nil, false},
		{"SCRAM-SHA-256 wrong password", []broker.Option{broker.SASL("SCRAM-SHA-256", "bob", "secret")},
			connect.Security{Mechanism: "SCRAM-SHA-256", Username: "bob", Password: "wrong"}, connect.ErrAuthentication, false},
		{"SCRAM-SHA-512 over TLS", []broker.Option{broker.TLS(certs.ServerTLS(false)), broker.SASL("SCRAM-SHA-512", "carol", "secret")},
			connect.Security{Protocol: "SASL_SSL", Mechanism: "SCRAM-SHA-512", Username: "carol", Password: "secret", CAFile: certs.CAFile}, nil, false},
		{"SCRAM-SHA-512 unknown user", []broker.Option{broker.TLS(certs.ServerTLS(false)), broker.SASL("SCRAM-SHA-512", "carol", "secret")},
			connect.Security{Protocol: "SASL_SSL", Mechanism: "SCRAM-SHA-512", Username: "mallory", Password: "secret", CAFile: certs.CAFile}, connect.ErrAuthentication, false},
		{"SCRAM mechanism the broker lacks", []broker.Option{broker.SASL("PLAIN", "alice", "secret")},
			connect.Security{Mechanism: "SCRAM-SHA-512", Username: "alice", Password: "secret"}, connect.ErrAuthentication, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.Start(t, append(tc.broker, broker.DataDir(t.TempDir()))...)
			s, f := both(t, b.Addrs(), tc.sec)
			if tc.want == nil && f != nil || tc.want != nil && !errors.Is(f, tc.want) {
				t.Errorf("franz-go client: %v, want %v", f, tc.want)
			}
			switch {
			case tc.want == nil && s != nil:
				t.Errorf("sarama client: %v, want success", s)
			case tc.want != nil && tc.saramaVague && s == nil:
				t.Errorf("sarama client succeeded, want an error")
			case tc.want != nil && !tc.saramaVague && !errors.Is(s, tc.want):
				t.Errorf("sarama client: %v, want %v", s, tc.want)
			}
		})
	}
}

// TestApplyRefuses pins the settings Apply refuses before anything dials.
func TestApplyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  connect.Security
		want string
	}{
		{"unknown protocol", connect.Security{Protocol: "TLS"}, "security protocol"},
		{"unknown mechanism", connect.Security{Mechanism: "GSSAPI", Username: "u"}, "SASL mechanism"},
		{"SASL without a user", connect.Security{Protocol: "SASL_SSL"}, "user name"},
		{"certificate without key", connect.Security{CertFile: "c.pem"}, "both"},
		{"missing CA file", connect.Security{CAFile: "/nonexistent/ca.pem"}, "ssl.ca.location"},
		{"files without TLS", connect.Security{Protocol: "SASL_PLAINTEXT", Username: "u", CAFile: "ca.pem"}, "no TLS"},
		{"SASL settings without SASL", connect.Security{Protocol: "SSL", Username: "u"}, "no SASL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect.Apply(base(), tc.sec)
			if !errors.Is(err, connect.ErrSecurity) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply(%+v) = %v, want ErrSecurity saying %q", tc.sec, err, tc.want)
			}
		})
	}
	if c, err := connect.Apply(base(), connect.Security{}); err != nil || c.Net.TLS.Enable || c.Net.SASL.Enable {
		t.Fatalf("Apply(zero) = TLS %v, SASL %v, %v; want plaintext", c.Net.TLS.Enable, c.Net.SASL.Enable, err)
	}
}
