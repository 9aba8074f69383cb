package benchmarks

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// timerCmd is a record of the timers workload: set a timer on the record's
// key at At (Unix ns), or, for a probe, just be handled (the anchor: how
// late a record written at its time is handled).
type timerCmd struct {
	At    int64 `json:"at"`
	Probe bool  `json:"probe,omitempty"`
}

// timerBench is a running timers workload: an agent that sets a timer per
// record and records, per firing, how late it ran.
type timerBench struct {
	in        topology.Stream[timerCmd]
	scheduled atomic.Int64
	fired     atomic.Int64
	probes    atomic.Int64

	mu   sync.Mutex
	late []time.Duration // per wall-clock firing
	hop  []time.Duration // per probe: handled minus written
}

func (w *timerBench) graph(name string) *topology.Graph {
	a := topology.Agent[struct{}]{
		Name: name,
		Inputs: []topology.Input[struct{}]{topology.Consume(w.in,
			func(c *topology.Context[struct{}], _ string, cmd timerCmd) error {
				if cmd.Probe {
					w.mu.Lock()
					w.hop = append(w.hop, c.Now().Sub(c.Timestamp()))
					w.mu.Unlock()
					w.probes.Add(1)
					return nil
				}
				w.scheduled.Add(1)
				return c.SetTimer(topology.Timer{Name: "t", At: time.Unix(0, cmd.At)})
			})},
		OnTimer: func(c *topology.Context[struct{}], _ string, t topology.Timer) error {
			w.mu.Lock()
			w.late = append(w.late, c.Now().Sub(t.At))
			w.mu.Unlock()
			w.fired.Add(1)
			return nil
		},
	}
	return &topology.Graph{Name: name, Sources: []topology.Topic{w.in}, Agents: []topology.AgentDecl{a}}
}

// timersResult is one run of the timers workload.
type timersResult struct {
	timers            int
	schedule, burst   time.Duration // all n timers set; n due at once all fired
	lateP50, lateP99  time.Duration // of steady timers
	hopP50, hopP99    time.Duration // of probes written at the same times (the anchor)
	steady, hopSample int
}

// runTimers runs the timers workload in mode: n pre-produced records each set
// a timer due at one moment, after all are set (schedule: first record handled
// to last timer set; burst: the moment to the last firing); then, with the
// agent idle, steady timers due at rate per second for two seconds, and at
// each one's time a probe record written, whose handling is the anchor.
func runTimers(tb testing.TB, addrs []string, mode, name string, n, rate int) timersResult {
	tb.Helper()
	w := &timerBench{in: topology.Stream[timerCmd]{Name: name + "-in", Codec: topology.JSON[timerCmd]()}}
	var opts []topology.Option
	if mode == "exactly-once" {
		opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
	}
	g := w.graph(name)
	if _, err := topology.Provision(context.Background(), g, topology.Brokers(addrs...)); err != nil {
		tb.Fatalf("provision: %v", err)
	}
	r := startSluice(tb, addrs, g, opts...)
	defer r.stop(tb)

	// Burst: every timer due at one moment, far enough ahead to be set by
	// then; the moment moves on if it was not.
	at := time.Now().Add(time.Hour)
	produceCmds(tb, addrs, w.in.Name, n, func(i int) (string, timerCmd) {
		return fmt.Sprintf("t-%07d", i), timerCmd{At: at.UnixNano()}
	})
	start := time.Now()
	waitFor(tb, 5*time.Minute, func() bool { return w.scheduled.Load() >= int64(n) }, "timers set")
	schedule := time.Since(start)
	// Set them again, due at one moment after setting them all takes twice
	// as long as it just did, and time their firing from that moment.
	due := time.Now().Add(2*schedule + time.Second)
	produceCmds(tb, addrs, w.in.Name, n, func(i int) (string, timerCmd) {
		return fmt.Sprintf("t-%07d", i), timerCmd{At: due.UnixNano()}
	})
	waitFor(tb, 5*time.Minute, func() bool { return w.scheduled.Load() >= int64(2*n) }, "timers set again")
	if time.Now().After(due) {
		tb.Fatalf("setting %d timers again took past their time: the burst would not be one", n)
	}
	waitFor(tb, 5*time.Minute, func() bool { return w.fired.Load() >= int64(n) }, "burst fired")
	burst := time.Since(due)
	w.mu.Lock()
	w.late = w.late[:0]
	w.mu.Unlock()

	// Steady: timers due at rate per second for 2 s, starting a second from
	// now; at each one's time, a probe written.
	steady := 2 * rate
	first := time.Now().Add(time.Second)
	every := time.Second / time.Duration(rate)
	produceCmds(tb, addrs, w.in.Name, steady, func(i int) (string, timerCmd) {
		return fmt.Sprintf("s-%07d", i), timerCmd{At: first.Add(time.Duration(i) * every).UnixNano()}
	})
	cl := newKgo(tb, addrs, kgo.DefaultProduceTopic(w.in.Name), kgo.ProducerLinger(0))
	defer cl.Close()
	time.Sleep(time.Until(first))
	tick := time.NewTicker(every)
	for i := range steady {
		<-tick.C
		b, _ := w.in.Codec.Encode(timerCmd{Probe: true})
		cl.Produce(context.Background(), &kgo.Record{Key: fmt.Appendf(nil, "p-%d", i), Value: b}, nil)
	}
	tick.Stop()
	waitFor(tb, time.Minute, func() bool {
		return w.fired.Load() >= int64(n+steady) && w.probes.Load() >= int64(steady)
	}, "steady timers and probes")
	w.mu.Lock()
	defer w.mu.Unlock()
	return timersResult{
		timers: n, schedule: schedule, burst: burst, steady: len(w.late), hopSample: len(w.hop),
		lateP50: durQuantile(w.late, 0.5), lateP99: durQuantile(w.late, 0.99),
		hopP50: durQuantile(w.hop, 0.5), hopP99: durQuantile(w.hop, 0.99),
	}
}

// produceCmds writes n commands to topic, command i made by cmd.
func produceCmds(tb testing.TB, addrs []string, topic string, n int, cmd func(i int) (string, timerCmd)) {
	tb.Helper()
	c := topology.JSON[timerCmd]()
	produce(tb, addrs, topic, n, func(i int) ([]byte, []byte) {
		k, v := cmd(i)
		b, err := c.Encode(v)
		if err != nil {
			tb.Fatal(err)
		}
		return []byte(k), b
	})
}

// waitFor polls cond every 5 ms until it holds, failing tb after timeout.
func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// durQuantile returns the q-quantile of ds by nearest rank, 0 for none.
func durQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(max(int(math.Ceil(q*float64(len(s))))-1, 0), len(s)-1)]
}

// timerCount is how many timers BenchmarkTimers sets and fires in a burst;
// timerRate is the rate of its steady timers, per second.
const (
	timerCount = 20_000
	timerRate  = 500
)

// BenchmarkTimers measures an agent's timers (topology.Agent.OnTimer) in
// both modes, 8 partitions: scheduled/s (20,000 pre-produced records each
// setting a timer: first record handled to last timer set), fired/s (the
// 20,000 timers due at one moment: that moment to the last handler call),
// and the lateness of steady timers (500/s for 2 s, an idle agent
// otherwise) beside its anchor measured at the same times in the same run:
// how late a record written at a timer's time is handled (hop).
func BenchmarkTimers(b *testing.B) {
	addrs := startBroker(b).Addrs()
	for _, mode := range Modes {
		b.Run("mode="+mode, func(b *testing.B) {
			var res []timersResult
			i := 0
			for b.Loop() {
				res = append(res, runTimers(b, addrs, mode, fmt.Sprintf("timers-%s-%d", mode, i), timerCount, timerRate))
				i++
			}
			var n int
			var sched, burst time.Duration
			for _, r := range res {
				n += r.timers
				sched += r.schedule
				burst += r.burst
			}
			last := res[len(res)-1]
			b.ReportMetric(perSecond(n, sched), "scheduled/s")
			b.ReportMetric(perSecond(n, burst), "fired/s")
			b.ReportMetric(ms(last.lateP50), "late-p50-ms")
			b.ReportMetric(ms(last.lateP99), "late-p99-ms")
			b.ReportMetric(ms(last.hopP50), "hop-p50-ms")
			b.ReportMetric(ms(last.hopP99), "hop-p99-ms")
		})
	}
}
