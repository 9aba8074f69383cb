package topology_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestExactlyOnceRebalance pins that a rebalance is no failure in
// exactly-once mode: a second instance joins while the first has records in
// flight; the first hands its partitions' open transactions back (aborted,
// read again by the new owner) without stopping the agent, and every count is
// written exactly once.
func TestExactlyOnceRebalance(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	var handled atomic.Int64
	g := eoGraph(func(_ context.Context, n int64) {
		handled.Store(n)
		time.Sleep(5 * time.Millisecond) // records stay in flight while the group rebalances
	})
	if _, err := topology.Provision(t.Context(), g, topology.Brokers(addrs...)); err != nil {
		t.Fatal(err)
	}
	want := produceEOKeys(t, addrs, 3000, 30)
	var logs [2]logRecorder
	for i := range logs {
		log, rec := newLogRecorder()
		logs[i] = rec
		stop := running(t, g, topology.Brokers(addrs...), topology.DataDir(t.TempDir()),
			topology.ExactlyOnce(topology.DefaultCommitInterval), topology.WithLogger(log))
		defer stop()
		waitUntil(t, time.Minute, "records handled", func() bool { return handled.Load() >= int64(300*(i+1)) })
	}
	waitCommitted(t, addrs, "eo-counter", eoIn.Name, 2*time.Minute)
	if n := checkExactlyOnceOutput(t, addrs, want); n != 3000 {
		t.Errorf("%s holds %d committed counts, want 3000", eoCounts.Name, n)
	}
	for i, rec := range logs {
		for _, r := range rec.find("agent failed; restarting") {
			t.Errorf("instance %d: agent failed at the rebalance: %v", i+1, attr(r, "error"))
		}
	}
}
