package topology_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testcert"
	"github.com/sluicehq/sluice/topology"
)

// TestViewStartsOnItsCopyBrokerDown starts a view again on storage that
// recovered before while the broker is down: it answers every key at once
// with the value and time it had, is recovered, and its Freshness says when
// it last heard from the broker (in its earlier Run) and that its lag is
// unknown. With the broker back it follows the changelog again (new values,
// a known lag), and no read fails in between, the switch from its own reads
// of the copy to goka's included. On wiped storage, the same start has
// nothing to answer from: Run fails (no broker answers), never recovered.
func TestViewStartsOnItsCopyBrokerDown(t *testing.T) {
	const keys = 20
	rb := startRestartable(t)
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(rb.addrs()...), topology.DataDir(dir)}
	kafkatest.CreateTopic(t, rb.addrs(), viewTable.Name, 4, nil)
	writeTable(t, rb.addrs(), keys, 1)
	v, stop := runView(t, opts...)
	waitValues(t, v, keys, 1)
	waitUntil(t, 10*time.Second, "the view to hear it has every record", func() bool {
		f := v.Freshness()
		return f.Recovered && f.Lag == 0
	})
	want := entries(t, v, keys)
	stop()
	heard := v.Freshness().Heard
	if heard.IsZero() {
		t.Fatal("the view never heard from the broker")
	}
	if !v.HasCopy() {
		t.Fatal("HasCopy = false after the view recovered")
	}

	rb.stop()
	down := time.Now()
	v, _ = runView(t, opts...)
	wctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := v.WaitRecovered(wctx); err != nil {
		t.Fatalf("a view started on its recovered copy, broker down: WaitRecovered = %v, want at once", err)
	}
	for time.Since(down) < time.Second {
		if got := entries(t, v, keys); !maps.Equal(got, want) {
			t.Fatalf("started on its copy with the broker down, the view holds %v, want %v", got, want)
		}
		f := v.Freshness()
		if !f.Recovered || !f.Heard.Equal(heard) || f.Lag != -1 {
			t.Fatalf("Freshness started on its copy, broker down = %+v, want recovered, heard %v, lag -1", f, heard)
		}
		pause(t, 20*time.Millisecond)
	}
	if age := v.Freshness().Age(time.Now()); age < time.Since(down) {
		t.Errorf("age %v with the broker down %v, want it to count from the last time the copy heard (%v)", age, time.Since(down), heard)
	}

	// Reads go on while the broker comes back and the view switches to
	// following the changelog: none may fail.
	var reads, failed atomic.Int64
	var first atomic.Value
	pctx, stopPoll := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for pctx.Err() == nil {
			for i := range keys {
				k := fmt.Sprintf("k%d", i)
				if n, ok, err := v.Get(k); err != nil || !ok || n != 1 && n != 2 {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("Get(%s) = %d, %t, %v", k, n, ok, err))
					continue
				}
				reads.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	})
	rb.start()
	up := time.Now()
	writeTable(t, rb.addrs(), keys, 2)
	waitValues(t, v, keys, 2)
	waitUntil(t, 10*time.Second, "the view to hear from the broker again", func() bool {
		f := v.Freshness()
		return f.Recovered && f.Lag == 0 && f.Heard.After(up)
	})
	stopPoll()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d reads failed while the broker came back; first: %v", n, n+reads.Load(), first.Load())
	}
	if reads.Load() == 0 {
		t.Error("no read while the broker came back")
	}
	t.Logf("%d reads while the broker came back", reads.Load())
}

// TestViewWipedCopyBrokerDown pins that a view on storage that never
// recovered does not answer while no broker can be reached: Run fails, and
// Recovered stays false.
func TestViewWipedCopyBrokerDown(t *testing.T) {
	const keys = 5
	rb := startRestartable(t)
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(rb.addrs()...), topology.DataDir(dir)}
	kafkatest.CreateTopic(t, rb.addrs(), viewTable.Name, 2, nil)
	writeTable(t, rb.addrs(), keys, 1)
	v, stop := runView(t, opts...)
	waitValues(t, v, keys, 1)
	stop()
	rb.stop()
	if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}

	v, err := topology.NewView(viewTable, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if v.HasCopy() {
		t.Error("HasCopy = true on a wiped data dir")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("View.Run on a wiped copy with the broker down = nil, want an error")
			}
			if v.Recovered() {
				t.Error("Recovered = true after Run failed")
			}
			t.Logf("View.Run on a wiped copy, broker down: %v", err)
			return
		default:
		}
		if v.Recovered() {
			t.Fatal("a view on a wiped copy with the broker down: Recovered = true")
		}
		if _, _, err := v.Get("k0"); err == nil {
			t.Fatal("a view on a wiped copy with the broker down answered Get")
		}
		pause(t, 10*time.Millisecond)
	}
}

// TestViewCopyRefusedCredentials starts a view again on its recovered copy
// with a wrong password, then with a certificate it does not trust: the
// broker answers, so it is not an outage to serve through. Run stops at once
// with ErrAuthentication and ErrTLS, and so it does on storage without a
// copy.
func TestViewCopyRefusedCredentials(t *testing.T) {
	const keys = 5
	certs, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := kafkatest.OnEmbedded(t, broker.TLS(certs.ServerTLS(false)),
		broker.SASL("SCRAM-SHA-512", kafkatest.SCRAMUser, kafkatest.SCRAMPassword))
	sec := topology.Security{Protocol: "SASL_SSL", Mechanism: "SCRAM-SHA-512",
		Username: kafkatest.SCRAMUser, Password: kafkatest.SCRAMPassword, CAFile: certs.CAFile}
	kopts, err := topology.ClientOptions(topology.Brokers(b.Addrs()...), topology.WithSecurity(sec))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 2, 1, nil, viewTable.Name); err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		r := &kgo.Record{Topic: viewTable.Name, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("1")}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	v, stop := runView(t, topology.Brokers(b.Addrs()...), topology.WithSecurity(sec), topology.DataDir(dir))
	waitValues(t, v, keys, 1)
	if err := v.WaitRecovered(t.Context()); err != nil {
		t.Fatal(err)
	}
	stop()

	wrongPassword, untrusted := refused(t, sec)
	for _, tc := range []struct {
		name string
		sec  topology.Security
		dir  string
		want error
	}{
		{"wrong password", wrongPassword, dir, topology.ErrAuthentication},
		{"untrusted certificate", untrusted, dir, topology.ErrTLS},
		{"wrong password, no copy", wrongPassword, t.TempDir(), topology.ErrAuthentication},
		{"untrusted certificate, no copy", untrusted, t.TempDir(), topology.ErrTLS},
	} {
		v, err := topology.NewView(viewTable, topology.Brokers(b.Addrs()...), topology.WithSecurity(tc.sec), topology.DataDir(tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err = v.Run(ctx)
		cancel()
		if !errors.Is(err, tc.want) {
			t.Errorf("View.Run on its copy with a %s = %v, want %v before the deadline", tc.name, err, tc.want)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}
