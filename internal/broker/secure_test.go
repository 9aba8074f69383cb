package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/testcert"
)

// TestSecureRestart pins the embedded broker with mutual TLS and SCRAM: a
// client with the certificate and password writes, the broker restarts on
// its data dir (its own clients reach it without a client certificate),
// the record is still there, and a wrong password is answered
// SASL_AUTHENTICATION_FAILED, as Kafka answers it, not with a closed
// connection.
func TestSecureRestart(t *testing.T) {
	certs, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := func() *broker.Broker {
		t.Helper()
		b, err := broker.Start(broker.DataDir(dir), broker.TLS(certs.ServerTLS(true)), broker.SASL("SCRAM-SHA-512", "app", "secret"))
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		return b
	}
	client := func(b *broker.Broker, password string, opts ...kgo.Opt) *kgo.Client {
		t.Helper()
		pem, _ := os.ReadFile(certs.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...),
			kgo.DialTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}),
			kgo.SASL(scram.Auth{User: "app", Pass: password}.AsSha512Mechanism()),
		}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b := start()
	cl := client(b, "secret", kgo.DefaultProduceTopic("t"))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = start()
	defer b.Close()
	ends, err := kadm.NewClient(client(b, "secret")).ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if o, _ := ends.Lookup("t", 0); o.Offset != 1 {
		t.Fatalf("after restart: end offset %d, want 1", o.Offset)
	}
	_, err = kadm.NewClient(client(b, "wrong")).ListTopics(ctx)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}
