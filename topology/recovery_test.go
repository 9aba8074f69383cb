package topology_test

import (
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// These tests extend TestRunCountsAndRecoversFromChangelog (local state
// deleted while nothing runs) and the broker-outage tests of
// supervise_test.go (outputs and counts checked after a broker bounce) to
// the cases issue 6 names: a running agent's state wiped while the rest of
// the pipeline runs on, and the tables, not just the outputs, after a
// broker restart.

// counterTable reads the counter agent's local table from dir, the agent's
// DataDir, while it is stopped.
func counterTable(t *testing.T, dir string) map[string]string {
	t.Helper()
	return readTables(t, filepath.Join(dir, "state", "counter"), topology.TableName("counter"), topology.DefaultPartitions)
}

// changelogTable returns the last value of each key in the counter's table
// topic: the table as the changelog has it.
func changelogTable(t *testing.T, addrs []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range kafkatest.ConsumeAll(t, addrs, topology.TableName("counter")) {
		out[string(r.Key)] = string(r.Value)
	}
	return out
}

// probe writes one click under key and waits until the relay has relayed its
// count: the counter is up (its table recovered, as goka recovers before it
// consumes) and so is the relay.
func probe(t *testing.T, addrs []string, p *pipeline, key string) {
	t.Helper()
	kafkatest.Produce(t, addrs, clicks.Name, &kgo.Record{Key: []byte(key), Value: []byte("0")})
	waitUntil(t, time.Minute, "the probe "+key+" to be relayed", func() bool {
		for _, r := range kafkatest.ConsumeAll(t, addrs, p.relayed.Name) {
			if string(r.Key) == key {
				return true
			}
		}
		return false
	})
}

// TestWipedStateRecoversWhileOthersRun runs the two-agent pipeline as two
// Runs, as two processes would: relay runs throughout, counter is stopped,
// restarted, has its local Pebble directory deleted while it runs, and is
// restarted again onto nothing. Its table, rebuilt from the changelog, must
// equal the one it had before, key by key, and the relay must not notice.
func TestWipedStateRecoversWhileOthersRun(t *testing.T) {
	keys, perKey := 200, 10
	addrs := kafkatest.Start(t).Addrs()
	p := newPipeline()
	counterDir := t.TempDir()
	common := []topology.Option{topology.Brokers(addrs...), topology.RestartBackoff(50*time.Millisecond, time.Second)}
	counterOpts := append([]topology.Option{topology.Agents("counter"), topology.DataDir(counterDir)}, common...)
	if _, err := topology.Provision(t.Context(), p.g, common...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	running(t, p.g, append([]topology.Option{topology.Agents("relay"), topology.DataDir(t.TempDir())}, common...)...)

	stop := running(t, p.g, counterOpts...)
	produceKeys(t, addrs, clicks.Name, keys, perKey)
	waitCommitted(t, addrs, "counter", clicks.Name, time.Minute)
	stop()
	before := counterTable(t, counterDir)
	if len(before) != keys {
		t.Fatalf("table before the wipe has %d keys, want %d", len(before), keys)
	}
	for k, v := range before {
		// At least: a rebalance (a session expired on a starved machine)
		// replays what was not committed yet, as at-least-once allows.
		if n, err := strconv.Atoi(v); err != nil || n < perKey {
			t.Fatalf("table[%s] before the wipe = %s, want at least %d", k, v, perKey)
		}
	}

	stop = running(t, p.g, counterOpts...)
	probe(t, addrs, p, "probe-1")
	state := filepath.Join(counterDir, "state", "counter")
	if err := os.RemoveAll(state); err != nil {
		t.Fatalf("wipe the running counter's state: %v", err)
	}
	stop() // Run returns nil, whatever closing the deleted stores reported
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state dir after the wipe and stop: %v, want it gone (the test would prove nothing)", err)
	}

	stop = running(t, p.g, counterOpts...)
	probe(t, addrs, p, "probe-2")
	stop()
	after := counterTable(t, counterDir)
	// The keys counted before the wipe got no record since, and their
	// offsets were committed by the stop: the rebuilt table has their values
	// exactly. A probe may be counted twice, if a rebalance replayed it.
	want := maps.Clone(before)
	for _, probe := range []string{"probe-1", "probe-2"} {
		if n, err := strconv.Atoi(after[probe]); err != nil || n < 1 {
			t.Errorf("recovered table[%s] = %q, want at least 1", probe, after[probe])
		}
		want[probe] = after[probe]
	}
	for k, v := range want {
		if after[k] != v {
			t.Errorf("recovered table[%s] = %q, want %q", k, after[k], v)
		}
	}
	for k, v := range after {
		if _, ok := want[k]; !ok {
			t.Errorf("recovered table has %s=%q, which it did not have", k, v)
		}
	}
	if cl := changelogTable(t, addrs); !maps.Equal(cl, after) {
		t.Errorf("changelog has %d keys, want the %d of the table, equal: it is the table's source", len(cl), len(after))
	}
}

// TestBrokerRestartKeepsTables stops the embedded broker under a steady
// stream through the running pipeline and starts it again from its data
// dir on the same port. Besides the outputs (every click counted, every
// count relayed: pipeline.check, as in the outage tests), the counter's
// table must be complete: its changelog ends at each key's final count,
// which covers the key's clicks, and the local Pebble table equals the
// changelog key by key.
func TestBrokerRestartKeepsTables(t *testing.T) {
	rb := startRestartable(t)
	p := newPipeline()
	dir := t.TempDir()
	stop := running(t, p.g, topology.Brokers(rb.addrs()...), topology.DataDir(dir),
		topology.RestartBackoff(50*time.Millisecond, 500*time.Millisecond))
	prod := produceSteadily(t, rb.addrs(), clicks.Name, 20, 2*time.Millisecond)
	waitUntil(t, 30*time.Second, "the pipeline to relay 500 clicks", func() bool { return prod.total.Load() >= 500 && p.relayLast.Load() > 0 })

	rb.stop()
	pause(t, 2*time.Second)
	rb.start()
	before := prod.total.Load()
	waitUntil(t, time.Minute, "500 more clicks to be acknowledged", func() bool { return prod.total.Load() >= before+500 })
	acked := prod.stop()
	dups, gaps := p.check(t, rb.addrs(), acked)

	final := maxValues(t, rb.addrs(), counts.Name)
	changelog := changelogTable(t, rb.addrs())
	for key, n := range acked {
		if got := changelog[key]; got != strconv.FormatInt(final[key], 10) || final[key] < n {
			t.Errorf("changelog of %s ends at %q, want its final count %d, at least its %d clicks", key, got, final[key], n)
		}
	}
	stop()
	if local := counterTable(t, dir); !maps.Equal(local, changelog) {
		t.Errorf("local table = %v, want the changelog's %v", local, changelog)
	}
	var total int64
	for _, n := range acked {
		total += n
	}
	t.Logf("broker restarted under a steady stream: %d clicks, %d counts above them (duplicates), %d counts skipped", total, dups, gaps)
}
