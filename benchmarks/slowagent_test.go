package benchmarks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// slowAgent is a running topology whose one agent calls a fake model that answers
// in latency, with concurrency calls at once per partition.
type slowAgent struct {
	addrs []string
	cl    *kgo.Client  // consumes the decisions
	next  int          // the next application id
	peak  atomic.Int64 // the most model calls in flight at once
}

var (
	slowApps      = topology.Stream[string]{Name: "apps", Codec: topology.String(), Partitions: 8}
	slowDecisions = topology.Stream[string]{Name: "decisions", Codec: topology.String(), Partitions: 8}
)

func newSlowAgent(tb testing.TB, concurrency int, latency time.Duration) *slowAgent {
	s := new(slowAgent)
	var inFlight atomic.Int64
	model := func(ctx context.Context, _ string, app string) (string, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
		}
		select {
		case <-time.After(latency):
			return "approved:" + app, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	agent := topology.Agent[struct{}]{
		Name: "scrutiny",
		Inputs: []topology.Input[struct{}]{topology.ConsumeAsync(slowApps, concurrency, topology.String(), model,
			func(c *topology.Context[struct{}], id string, decision string) error {
				return topology.Emit(c, slowDecisions, id, decision)
			})},
		Outputs: []topology.Topic{slowDecisions},
	}
	g := &topology.Graph{Name: "slow", Sources: []topology.Topic{slowApps}, Sinks: []topology.Topic{slowDecisions}, Agents: []topology.AgentDecl{agent}}
	b := kafkatest.Start(tb)
	addrs := b.Addrs()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- topology.Run(ctx, g, topology.Brokers(addrs...), topology.DataDir(tb.TempDir()),
			topology.OnProvisioned(func([]string) { close(ready) }))
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	<-ready
	cl := kafkatest.Client(tb, addrs, kgo.ConsumeTopics(slowDecisions.Name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	s.addrs, s.cl = addrs, cl
	return s
}

// process writes n applications and waits until all n decisions are out; it
// returns the time that took.
func (s *slowAgent) process(tb testing.TB, n int) time.Duration {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: slowApps.Name, Key: fmt.Appendf(nil, "app-%d", s.next), Value: fmt.Appendf(nil, "%d", s.next)}
		s.next++
	}
	start := time.Now()
	kafkatest.Produce(tb, s.addrs, slowApps.Name, recs...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for got := 0; got < n; {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("%d of %d decisions before the deadline", got, n)
		}
		got += fs.NumRecords()
	}
	return time.Since(start)
}

// BenchmarkSlowAgent measures an agent whose model answers in 100 ms, one instance
// on 8 partitions, with one call at a time per partition (goka's model) and with
// 16 (ConsumeAsync). Unit: applications per second.
func BenchmarkSlowAgent(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			s := newSlowAgent(b, conc, 100*time.Millisecond)
			s.process(b, 8)    // warm up: group joined, partitions assigned
			n := 8 * 10 * conc // ten model round trips' worth at full concurrency
			var apps int
			var took time.Duration
			for b.Loop() {
				took += s.process(b, n)
				apps += n
			}
			b.ReportMetric(float64(apps)/took.Seconds(), "apps/s")
		})
	}
}

// TestSlowAgentShort runs the benchmark's workload small inside `make test`, so it
// never rots, and checks the property behind the benchmark's figure without timing
// anything (timings flake on a busy machine): every application gets its decision,
// and model calls really overlap, within the bound of 16 per partition.
func TestSlowAgentShort(t *testing.T) {
	proctest.NonRacePass(t, "the workloads measure a build without the race detector; the runtime they drive runs under it in the other packages' tests")
	s := newSlowAgent(t, 16, 50*time.Millisecond)
	s.process(t, 8)
	s.process(t, 8*16*2)
	if p := s.peak.Load(); p < 2 || p > 16*int64(slowApps.Partitions) {
		t.Fatalf("peak model calls in flight = %d, want 2..%d", p, 16*slowApps.Partitions)
	}
	t.Logf("peak model calls in flight: %d", s.peak.Load())
}
