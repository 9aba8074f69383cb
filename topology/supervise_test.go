package topology_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/gokax"
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

// outcome is what brokerOutage measured.
type outcome struct {
	clicks     int64          // acknowledged
	resumed    time.Duration  // from the broker's return to the relay's first call
	caughtUp   time.Duration  // from the broker's return until all clicks, and 500 more, were relayed and committed
	duplicates int64          // counts above the clicks produced
	calls      int64          // counter calls that succeeded
	restarts   map[string]int // "agent failed; restarting" lines per agent
}

func (o outcome) String() string {
	return fmt.Sprintf("%d clicks over 20 keys; resumed %v after the broker came back (the relay's first call), "+
		"caught up %v after; restarts logged %v; %d counts above the clicks produced (duplicates), %d counter calls",
		o.clicks, o.resumed.Round(time.Millisecond), o.caughtUp.Round(time.Millisecond), o.restarts, o.duplicates, o.calls)
}

// brokerOutage runs the pipeline with kafka configuration cfg on a steady
// stream of clicks, stops the broker for outage, and starts it again on the same
// data dir and port. One counter call is held until the broker is down, so
// that a write is pending when it goes. Once 500 more clicks are acknowledged
// it checks that none was lost (see pipeline.check).
func brokerOutage(t *testing.T, cfg *sarama.Config, outage time.Duration) outcome {
	t.Helper()
	rb := startRestartable(t)
	p := newPipeline()
	logger, logs := newLogRecorder()
	running(t, p.g, topology.Brokers(rb.addrs()...), topology.DataDir(t.TempDir()), topology.WithLogger(logger),
		topology.KafkaConfig(cfg), topology.RestartBackoff(50*time.Millisecond, 500*time.Millisecond))

	prod := produceSteadily(t, rb.addrs(), clicks.Name, 20, 2*time.Millisecond)
	waitUntil(t, 30*time.Second, "the pipeline to relay 500 clicks", func() bool { return prod.total.Load() >= 500 && p.relayLast.Load() > 0 })

	release := p.hold(t)
	rb.stop()
	release() // its state and count are written while the broker is down
	pause(t, outage)
	rb.start()
	back := time.Now()
	waitUntil(t, 30*time.Second, "the relay to handle a record after the broker came back", func() bool {
		return p.relayLast.Load() > back.UnixNano()
	})
	o := outcome{resumed: time.Unix(0, p.relayLast.Load()).Sub(back), restarts: map[string]int{}}
	before := prod.total.Load()
	waitUntil(t, 30*time.Second, "500 more clicks to be acknowledged", func() bool { return prod.total.Load() >= before+500 })
	acked := prod.stop()
	o.duplicates = p.check(t, rb.addrs(), acked)
	o.caughtUp = time.Since(back)

	for _, n := range acked {
		o.clicks += n
	}
	for _, r := range logs.find("agent failed; restarting") {
		o.restarts[attr(r, "agent")]++
	}
	p.mu.Lock()
	o.calls = p.handled
	p.mu.Unlock()
	return o
}

// TestSuperviseRestartsAfterBrokerOutage pins the supervisor: a goka processor
// whose write fails during a broker outage returns from Run, and nothing but
// the supervisor restarts it. The agents' producers here give up after about a
// second, so that the held write fails within the 4 s outage (with sluice's
// defaults sarama retries it for over 20 s; see the next test). The pipeline
// must resume and lose nothing.
func TestSuperviseRestartsAfterBrokerOutage(t *testing.T) {
	cfg := gokax.Config()
	cfg.Producer.Retry.Max = 1
	cfg.Metadata.Retry.Max = 1
	o := brokerOutage(t, cfg, 4*time.Second)
	t.Logf("4 s outage, producers giving up after ~1 s: %v", o)
	if o.restarts["counter"] == 0 {
		t.Errorf("restarts logged %v, want the counter's: its write failed, goka's Run returned, and nothing restarted it", o.restarts)
	}
}

// TestSuperviseRidesOutBrokerOutage runs the same outage with sluice's default
// configuration, under which the pending write outlasts the outage: whether an
// agent fails (and is restarted) or goka's consumer group rejoins by itself
// after its 5 s pause, the pipeline must resume and lose nothing.
func TestSuperviseRidesOutBrokerOutage(t *testing.T) {
	o := brokerOutage(t, gokax.Config(), 4*time.Second)
	t.Logf("4 s outage, sluice's defaults: %v", o)
}
