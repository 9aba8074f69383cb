package topology_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testcert"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// securedCluster is a broker with a SASL_SSL listener: its addresses there,
// the CA of its certificate, and the test's names.
type securedCluster struct {
	addrs []string
	ca    string
	name  func(string) string
}

// eachSecured runs fn on the embedded broker serving TLS and SCRAM-SHA-512,
// and on the SASL_SSL listener of the package's Apache Kafka cluster.
func eachSecured(t *testing.T, fn func(t *testing.T, c securedCluster)) {
	t.Run(kafkatest.Embedded, func(t *testing.T) {
		certs, err := testcert.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b := kafkatest.OnEmbedded(t, broker.TLS(certs.ServerTLS(false)),
			broker.SASL("SCRAM-SHA-512", kafkatest.SCRAMUser, kafkatest.SCRAMPassword))
		fn(t, securedCluster{addrs: b.Addrs(), ca: certs.CAFile, name: b.Name})
	})
	t.Run(kafkatest.Kafka, func(t *testing.T) {
		b := kafkatest.OnKafka(t)
		fn(t, securedCluster{addrs: b.Kafka().SecureAddrs(), ca: b.Kafka().Certs().CAFile, name: b.Name})
	})
}

// TestSecuredCluster runs every kind of client sluice creates through one
// security setting, SASL_SSL with SCRAM-SHA-512: an emitter writes, an
// exactly-once agent counts (transactional producers, its read-committed
// changelog reader, provisioning, size checks), a view reads its table, and
// the lag is read; then a wrong password and an untrusted certificate stop
// Run at once with ErrAuthentication and ErrTLS instead of a retry loop.
func TestSecuredCluster(t *testing.T) {
	eachSecured(t, func(t *testing.T, c securedCluster) {
		const keys, perKey = 20, 5
		sec := topology.Security{Protocol: "SASL_SSL", Mechanism: "SCRAM-SHA-512",
			Username: kafkatest.SCRAMUser, Password: kafkatest.SCRAMPassword, CAFile: c.ca}
		g := counterGraphNamed(c.name)
		in, agent := clicks, c.name("counter")
		in.Name = c.name(in.Name)
		opts := []topology.Option{topology.Brokers(c.addrs...), topology.WithSecurity(sec)}
		eos := append(slices.Clip(opts), topology.ExactlyOnce(topology.DefaultCommitInterval))
		running(t, g, append(eos, topology.DataDir(t.TempDir()))...)

		em, err := topology.NewEmitter(in, opts...)
		if err != nil {
			t.Fatalf("NewEmitter: %v", err)
		}
		defer em.Close()
		for i := range keys * perKey {
			if err := em.Write(t.Context(), fmt.Sprintf("user-%d", i%keys), "x"); err != nil {
				t.Fatalf("Emit: %v", err)
			}
		}

		v, err := topology.NewView(topology.ExternalTable(agent, topology.Int64()), append(eos, topology.DataDir(t.TempDir()))...)
		if err != nil {
			t.Fatalf("NewView: %v", err)
		}
		vctx, stopView := context.WithCancel(t.Context())
		viewDone := make(chan error, 1)
		go func() { viewDone <- v.Run(vctx) }()
		defer func() {
			stopView()
			if err := <-viewDone; err != nil {
				t.Errorf("View.Run: %v", err)
			}
		}()
		waitUntil(t, 2*time.Minute, "every count in the view", func() bool {
			for k := range keys {
				n, ok, err := v.Get(fmt.Sprintf("user-%d", k))
				if err != nil || !ok || n != perKey {
					return false
				}
			}
			return true
		})
		// The view's freshness prober reads end offsets through the same
		// security setting: it has heard from the broker.
		waitUntil(t, time.Minute, "the view to hear from the broker", func() bool { return !v.Freshness().Heard.IsZero() })

		kopts, err := topology.ClientOptions(opts...)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kopts...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		waitUntil(t, time.Minute, "the agent's lag to reach 0", func() bool {
			rows, err := observe.GraphLag(t.Context(), cl, g)
			if err != nil || len(rows) == 0 {
				return false
			}
			for _, r := range rows {
				if r.Lag != 0 {
					return false
				}
			}
			return true
		})

		wrongPassword, untrusted := refused(t, sec)
		for _, tc := range []struct {
			name string
			sec  topology.Security
			want error
		}{
			{"wrong password", wrongPassword, topology.ErrAuthentication},
			{"untrusted certificate", untrusted, topology.ErrTLS},
		} {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			err := topology.Run(ctx, g, topology.Brokers(c.addrs...), topology.WithSecurity(tc.sec), topology.DataDir(t.TempDir()))
			cancel()
			if !errors.Is(err, tc.want) {
				t.Errorf("Run with a %s = %v, want %v before the deadline", tc.name, err, tc.want)
			}
		}
	})
}

// TestSASLMechanismsOnKafka connects to Apache Kafka's SASL_SSL listener with
// each mechanism, and with a wrong password for each.
func TestSASLMechanismsOnKafka(t *testing.T) {
	b := kafkatest.OnKafka(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		for _, pw := range []string{kafkatest.SCRAMPassword, "wrong"} {
			sec := topology.Security{Protocol: "SASL_SSL", Mechanism: mech, Username: kafkatest.SCRAMUser, Password: pw, CAFile: b.Kafka().Certs().CAFile}
			opts, err := topology.ClientOptions(topology.Brokers(b.Kafka().SecureAddrs()...), topology.WithSecurity(sec))
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			_, err = kadm.NewClient(cl).ListBrokers(ctx)
			cancel()
			cl.Close()
			err = topology.CheckConnection(err)
			if pw == "wrong" && !errors.Is(err, topology.ErrAuthentication) || pw != "wrong" && err != nil {
				t.Errorf("%s with password %q: %v", mech, pw, err)
			}
		}
	}
}

// refused returns sec with a wrong password, and sec trusting a CA that did
// not sign the broker's certificate.
func refused(t *testing.T, sec topology.Security) (wrongPassword, untrusted topology.Security) {
	t.Helper()
	other, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wrongPassword, untrusted = sec, sec
	wrongPassword.Password = "wrong"
	untrusted.CAFile = other.CAFile
	return wrongPassword, untrusted
}
