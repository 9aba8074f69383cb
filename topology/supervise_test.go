package topology_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// pipeline is two agents chained: counter counts clicks per key and emits each
// new count to counts; relay forwards counts to relayed. The handlers record
// what they saw, so a test can tell a lost record from a late one.
type pipeline struct {
	g       *topology.Graph
	relayed topology.Stream[int64]

	mu      sync.Mutex
	seen    map[string]map[int64]bool // click values counted, per key
	handled int64                     // counter handler calls that succeeded

	relayLast atomic.Int64 // when relay last handled a record, Unix ns

	gate atomic.Pointer[gate] // when set, the next counter call waits at it
}

// gate holds one handler call: entered is closed when it arrives, and it
// returns once release is closed.
type gate struct{ entered, release chan struct{} }

// hold makes the next counter call wait until release is called, and returns
// once that call waits.
func (p *pipeline) hold(t *testing.T) (release func()) {
	t.Helper()
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	p.gate.Store(g)
	release = sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(release)
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no counter call within 10 s")
	}
	return release
}

func newPipeline() *pipeline {
	p := &pipeline{
		relayed: topology.Stream[int64]{Name: "relayed", Codec: topology.Int64()},
		seen:    map[string]map[int64]bool{},
	}
	counter := topology.Agent[int64]{
		Name:  "counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(clicks,
			func(c *topology.Context[int64], key string, v string) error {
				if g := p.gate.Swap(nil); g != nil {
					close(g.entered)
					<-g.release
				}
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				if err := topology.Emit(c, counts, key, n+1); err != nil {
					return err
				}
				seq, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return err
				}
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.seen[key] == nil {
					p.seen[key] = map[int64]bool{}
				}
				p.seen[key][seq] = true
				p.handled++
				return nil
			})},
		Outputs: []topology.Topic{counts},
	}
	relay := topology.Agent[struct{}]{
		Name: "relay",
		Inputs: []topology.Input[struct{}]{topology.Consume(counts,
			func(c *topology.Context[struct{}], key string, n int64) error {
				p.relayLast.Store(time.Now().UnixNano())
				return topology.Emit(c, p.relayed, key, n)
			})},
		Outputs: []topology.Topic{p.relayed},
	}
	p.g = &topology.Graph{
		Name:    "pipeline",
		Sources: []topology.Topic{clicks},
		Sinks:   []topology.Topic{p.relayed},
		Agents:  []topology.AgentDecl{counter, relay},
	}
	return p
}

// check fails t unless every acknowledged click was counted at least once and
// every key's final count, as relayed, is at least its number of clicks: the
// at-least-once guarantee. It returns the counts above that, the duplicates.
func (p *pipeline) check(t *testing.T, addrs []string, acked map[string]int64) (duplicates int64) {
	t.Helper()
	waitCommitted(t, addrs, "counter", clicks.Name, time.Minute)
	waitCommitted(t, addrs, "relay", counts.Name, time.Minute)
	final := maxValues(t, addrs, p.relayed.Name)
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, n := range acked {
		for seq := range n {
			if !p.seen[key][seq] {
				t.Errorf("click %s=%d was acknowledged but never counted", key, seq)
			}
		}
		if final[key] < n {
			t.Errorf("final count of %s = %d, want at least %d, the clicks produced for it", key, final[key], n)
		}
		duplicates += final[key] - n
	}
	if len(final) != len(acked) {
		t.Errorf("relayed has counts for %d keys, want %d", len(final), len(acked))
	}
	return duplicates
}

// TestSuperviseRestartsAfterBrokerOutage stops the broker under a two-agent
// pipeline processing a steady stream, for 4 s, and starts it again on the
// same data dir and port. A goka processor with writes pending when the broker
// goes returns from Run and nothing restarts it: the supervisor must. To have a
// write pending for sure, one counter call is held until the broker is down.
// The pipeline must resume and lose nothing.
func TestSuperviseRestartsAfterBrokerOutage(t *testing.T) {
	const outage = 4 * time.Second
	rb := startRestartable(t)
	p := newPipeline()
	logger, logs := newLogRecorder()
	running(t, p.g, topology.Brokers(rb.addrs()...), topology.DataDir(t.TempDir()), topology.WithLogger(logger),
		topology.RestartBackoff(50*time.Millisecond, 500*time.Millisecond))

	prod := produceSteadily(t, rb.addrs(), clicks.Name, 20, 2*time.Millisecond)
	waitUntil(t, 30*time.Second, "the pipeline relays", func() bool { return prod.total.Load() >= 500 && p.relayLast.Load() > 0 })

	release := p.hold(t)
	rb.stop()
	release() // its state and count are written while the broker is down
	down := time.Now()
	waitUntil(t, 60*time.Second, "restart", func() bool { return len(logs.find("agent failed; restarting")) > 0 })
	t.Logf("first restart %v after stop", time.Since(down))
	rb.start()
	back := time.Now()
	waitUntil(t, 30*time.Second, "the relay handles a record after the broker is back", func() bool {
		return p.relayLast.Load() > back.UnixNano()
	})
	resumed := time.Unix(0, p.relayLast.Load())
	before := prod.total.Load()
	waitUntil(t, 30*time.Second, "500 more clicks are acknowledged", func() bool { return prod.total.Load() >= before+500 })
	acked := prod.stop()

	t.Logf("stop %v back %v", back.Add(-outage).Format("15:04:05.000"), back.Format("15:04:05.000"))
	dumpLogs(t, logs)
	dups := p.check(t, rb.addrs(), acked)
	caughtUp := time.Since(back)
	var total int64
	for _, n := range acked {
		total += n
	}
	restarts := map[string]int{}
	for _, r := range logs.find("agent failed; restarting") {
		restarts[attr(r, "agent")]++
	}
	if len(restarts) == 0 {
		t.Errorf("no 'agent failed; restarting' logged: nothing restarted the agents after the outage")
	}
	p.mu.Lock()
	handled := p.handled
	p.mu.Unlock()
	t.Logf("outage %v; %d clicks over 20 keys; resumed %v after the broker came back (first relay call), caught up within %v; "+
		"restarts logged %v; %d counts above the clicks produced (duplicates), %d counter calls for %d clicks",
		outage, total, resumed.Sub(back).Round(time.Millisecond), caughtUp.Round(time.Millisecond),
		restarts, dups, handled, total)
}
