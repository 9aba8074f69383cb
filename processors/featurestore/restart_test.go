package featurestore_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

// TestLookupThroughRestart runs the store, on the embedded broker and on
// Apache Kafka, and the lookup service on a View of its table. It stops the agent, deletes its local
// state and sends more updates while it is down: the service answers every
// request all along (with the old values), and shows the new ones once the
// agent, rebuilt from its changelog, has applied them. A second View on the
// first one's data dir then starts from its local copy and answers the same.
func TestLookupThroughRestart(t *testing.T) { kafkatest.EachBroker(t, lookupThroughRestart) }

func lookupThroughRestart(t *testing.T, b *kafkatest.Broker) {
	const entities = 20
	addrs := b.Addrs()
	dir := t.TempDir()
	updates := updates
	updates.Name = b.Name(updates.Name)
	g, store := storeGraph(t, featurestore.Config{Name: b.Name("features"), Updates: updates}, updates)
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	send := func(round int) {
		var recs []*kgo.Record
		for i := range entities {
			u := featurestore.Update{Name: "f", Value: float64(round*100 + i), AsOf: t0.Add(time.Duration(round) * time.Minute)}
			v, err := updates.Codec.Encode(u)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "e%d", i), Value: v})
		}
		kafkatest.Produce(t, addrs, updates.Name, recs...)
	}
	viewDir := t.TempDir()
	srv, stopView := serve(t, store.Table(), topology.Brokers(addrs...), topology.DataDir(viewDir))
	defer stopView()
	// waitRound waits until every entity shows the values of round.
	waitRound := func(url string, round int) {
		t.Helper()
		kafkatest.WaitFor(t, time.Minute, func() bool {
			for i := range entities {
				status, r, err := get(srv.Client(), fmt.Sprintf("%s/features/e%d", url, i))
				if err != nil || status != 200 || r.Features["f"].Value != float64(round*100+i) {
					return false
				}
			}
			return true
		})
	}

	send(1)
	stopAgent := running(t, g, opts...)
	waitRound(srv.URL, 1)
	if status, _, err := get(srv.Client(), srv.URL+"/features/nobody"); err != nil || status != 404 {
		t.Errorf("GET unknown entity = %d, %v, want 404", status, err)
	}

	// Poll all along while the agent is down and comes back.
	var answered, failed atomic.Int64
	var firstFailure atomic.Value
	pollCtx, stopPoll := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; pollCtx.Err() == nil; i++ {
			status, r, err := get(srv.Client(), fmt.Sprintf("%s/features/e%d", srv.URL, i%entities))
			if err != nil || status != 200 || r.Features["f"].Value < 100 {
				failed.Add(1)
				firstFailure.CompareAndSwap(nil, fmt.Sprintf("status %d, %v, %v", status, r, err))
				continue
			}
			answered.Add(1)
		}
	})

	stopAgent()
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	send(2)
	before := answered.Load()
	kafkatest.WaitFor(t, 10*time.Second, func() bool { return answered.Load() > before+100 })
	// Still the values of round 1: the agent is down.
	if status, r, err := get(srv.Client(), srv.URL+"/features/e3"); err != nil || status != 200 || r.Features["f"].Value != 103 {
		t.Errorf("GET e3 with the agent down = %d %v %v, want 200 with f=103", status, r, err)
	}
	running(t, g, opts...)
	waitRound(srv.URL, 2)
	stopPoll()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d lookups failed during the restart; first: %v", n, n+answered.Load(), firstFailure.Load())
	}

	// The lookup service restarts too: its local copy serves at once.
	stopView()
	srv2, stopView2 := serve(t, store.Table(), topology.Brokers(addrs...), topology.DataDir(viewDir))
	defer stopView2()
	waitRound(srv2.URL, 2)
}

// serve runs a View of table behind the lookup handler until stop is called or
// the test ends, once the view has recovered.
func serve(t *testing.T, table topology.Table[featurestore.Vector], opts ...topology.Option) (*httptest.Server, func()) {
	t.Helper()
	view, err := topology.NewView(table, opts...)
	if err != nil {
		t.Fatalf("NewView: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- view.Run(ctx) }()
	srv := httptest.NewServer(featurestore.Handler(view))
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("View.Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := view.WaitRecovered(wctx); err != nil {
		t.Fatalf("view did not recover: %v", err)
	}
	return srv, stop
}

// running runs g until stop is called or the test ends; stop fails the test if
// Run returned an error.
func running(t *testing.T, g *topology.Graph, opts ...topology.Option) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- topology.Run(ctx, g, opts...) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(stop)
	return stop
}
