package topology_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// viewTable is the table the view tests write to directly, as its agent would.
var viewTable = topology.Table[int64]{Name: topology.TableName("counter"), Codec: topology.Int64()}

// writeTable writes value to keys k0 .. k(keys-1) of the table.
func writeTable(t *testing.T, addrs []string, keys int, value int64) {
	t.Helper()
	recs := make([]*kgo.Record, keys)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: strconv.AppendInt(nil, value, 10)}
	}
	kafkatest.Produce(t, addrs, viewTable.Name, recs...)
}

// runView runs a view of viewTable until stop is called or the test ends.
func runView(t *testing.T, opts ...topology.Option) (v *topology.View[int64], stop func()) {
	t.Helper()
	v, err := topology.NewView(viewTable, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("View.Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(stop)
	return v, stop
}

// entries reads k0 .. k(keys-1) from v.
func entries(t *testing.T, v *topology.View[int64], keys int) map[string]topology.Entry[int64] {
	t.Helper()
	out := map[string]topology.Entry[int64]{}
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		e, ok, err := v.Entry(k)
		if err != nil || !ok {
			t.Fatalf("Entry(%s) = %v, %t, %v, want a value", k, e, ok, err)
		}
		out[k] = e
	}
	return out
}

// waitValues waits until v holds value for every key.
func waitValues(t *testing.T, v *topology.View[int64], keys int, value int64) {
	t.Helper()
	waitUntil(t, time.Minute, fmt.Sprintf("the view to hold %d for %d keys", value, keys), func() bool {
		for i := range keys {
			if n, ok, err := v.Get(fmt.Sprintf("k%d", i)); err != nil || !ok || n != value {
				return false
			}
		}
		return true
	})
}

// TestViewThroughBrokerOutage stops the embedded broker under a recovered
// view: every read during the outage answers from local storage with exactly
// what it answered before, Recovered stays true (goka's own goes false as soon
// as a partition reconnects), and Freshness stops advancing, so a service can
// say how stale the answers may be. Once the broker is back the view sees new
// writes and hears from it again.
func TestViewThroughBrokerOutage(t *testing.T) {
	const keys = 20
	rb := startRestartable(t)
	opts := []topology.Option{topology.Brokers(rb.addrs()...), topology.DataDir(t.TempDir())}
	kafkatest.CreateTopic(t, rb.addrs(), viewTable.Name, 4, nil)
	before := time.Now()
	writeTable(t, rb.addrs(), keys, 1)
	v, _ := runView(t, opts...)
	waitValues(t, v, keys, 1)
	if err := v.WaitRecovered(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := entries(t, v, keys)
	for k, e := range want {
		if e.AsOf.Before(before.Add(-time.Second)) || e.AsOf.After(time.Now()) {
			t.Errorf("%s as of %v, want the time it was written, after %v", k, e.AsOf, before)
		}
	}
	waitUntil(t, 10*time.Second, "the view to hear it has every record", func() bool {
		f := v.Freshness()
		return f.Recovered && f.Lag == 0 && f.Age(time.Now()) < 2*topology.ProbeInterval
	})

	rb.stop()
	down := time.Now()
	reads := 0
	for time.Since(down) < 3*time.Second {
		if !v.Recovered() {
			t.Fatalf("Recovered = false %v into the broker outage", time.Since(down))
		}
		if got := entries(t, v, keys); !maps.Equal(got, want) {
			t.Fatalf("%v into the outage the view holds %v, want %v", time.Since(down), got, want)
		}
		reads += keys
		pause(t, 10*time.Millisecond)
	}
	f := v.Freshness()
	if age := f.Age(time.Now()); !f.Recovered || age < 2*time.Second {
		t.Errorf("Freshness 3 s into the outage = %+v (age %v), want recovered and heard 2 s ago or more", f, age)
	}
	t.Logf("%d reads during the outage, all answered; freshness then: age %v, lag %d", reads, f.Age(time.Now()), f.Lag)

	rb.start()
	writeTable(t, rb.addrs(), keys, 2)
	waitValues(t, v, keys, 2)
	waitUntil(t, 10*time.Second, "the view to hear from the broker again", func() bool {
		f := v.Freshness()
		return f.Lag == 0 && f.Heard.After(down) && f.Age(time.Now()) < 2*topology.ProbeInterval
	})
}

// TestViewRestartsOnItsCopy starts a view again on storage that recovered
// before, while it cannot catch up with what was written meanwhile (every
// fetch fails): it answers from its copy at once, and Freshness counts what it
// lacks. On wiped storage, the same start has nothing to answer from:
// Recovered stays false until the fetches succeed and it has caught up.
func TestViewRestartsOnItsCopy(t *testing.T) {
	const keys = 10
	b := kafkatest.Start(t)
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(dir)}
	kafkatest.CreateTopic(t, b.Addrs(), viewTable.Name, 4, nil)
	writeTable(t, b.Addrs(), keys, 1)
	v, stop := runView(t, opts...)
	waitValues(t, v, keys, 1)
	if err := v.WaitRecovered(t.Context()); err != nil {
		t.Fatal(err)
	}
	stop()

	writeTable(t, b.Addrs(), keys, 2)
	fault := b.Fail(kmsg.Fetch, kerr.NotLeaderForPartition, -1, nil)
	v, stop = runView(t, opts...)
	wctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := v.WaitRecovered(wctx); err != nil {
		t.Fatalf("a view restarted on a recovered copy: WaitRecovered = %v, want at once", err)
	}
	for k, e := range entries(t, v, keys) {
		if e.Value != 1 {
			t.Errorf("%s = %d with fetches failing, want 1 from the copy", k, e.Value)
		}
	}
	waitUntil(t, 10*time.Second, "Freshness to count the records the copy lacks", func() bool {
		return v.Freshness().Lag == keys
	})
	stop()

	if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}
	v, _ = runView(t, opts...)
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		if v.Recovered() {
			t.Fatalf("a view on wiped storage that cannot fetch: Recovered = true after %v", time.Since(start))
		}
		pause(t, 10*time.Millisecond)
	}
	if fault.Hits() == 0 {
		t.Fatal("no fetch failed: the test did not stall recovery")
	}
	fault.Remove()
	waitValues(t, v, keys, 2)
	if err := v.WaitRecovered(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestViewRebuildsForeignStorage pins that a view started on a directory
// without its state file (an older sluice's copy, stored without record
// times) removes it and recovers the table from the changelog.
func TestViewRebuildsForeignStorage(t *testing.T) {
	b := kafkatest.Start(t)
	dir := t.TempDir()
	kafkatest.CreateTopic(t, b.Addrs(), viewTable.Name, 2, nil)
	writeTable(t, b.Addrs(), 3, 7)
	stale := filepath.Join(dir, "views", viewTable.Name, viewTable.Name+".0")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "junk"), []byte("not pebble"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, stop := runView(t, topology.Brokers(b.Addrs()...), topology.DataDir(dir))
	waitValues(t, v, 3, 7)
	stop()
	if _, err := os.Stat(filepath.Join(stale, "junk")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of the old copy's file = %v, want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "views", viewTable.Name, "sluice-view.json")); err != nil {
		t.Errorf("state file: %v", err)
	}
}
