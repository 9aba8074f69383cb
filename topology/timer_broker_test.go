package topology_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/topology"
)

// A timer test record on tm-in asks for a timer named Name on its key, Delay
// after the handler sees it (by the agent's clock), or with Stream a stream
// timer Delay after the record's timestamp; a negative Delay cancels the
// timer of that name instead.
type timerReq struct {
	Name   string        `json:"name"`
	Delay  time.Duration `json:"delay"`
	Seq    int           `json:"seq"`
	Stream bool          `json:"stream,omitempty"`
}

// timerFired is what the timer agent emits when a timer fires: the timer,
// its time and the time its handler ran (Unix ns, by the same machine's
// clock, or for a stream timer the partition's stream time), and how many
// timers the key had fired before (its state).
type timerFired struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Seq    int    `json:"seq"`
	At     int64  `json:"at"`
	Ran    int64  `json:"ran"`
	Before int64  `json:"before"`
}

var (
	tmIn    = topology.Stream[timerReq]{Name: "tm-in", Codec: topology.JSON[timerReq]()}
	tmFired = topology.Stream[timerFired]{Name: "tm-fired", Codec: topology.JSON[timerFired]()}
)

// timerGraph is the agent of the timer tests on a broker: tm-timer sets and
// cancels timers as tm-in asks, and on each firing counts it in its state and
// emits a timerFired. fired, if set, is called with each firing.
func timerGraph(fired func(timerFired)) *topology.Graph {
	a := topology.Agent[int64]{
		Name:  "tm-timer",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(tmIn,
			func(c *topology.Context[int64], _ string, r timerReq) error {
				if r.Delay < 0 {
					return c.CancelTimer(r.Name)
				}
				at := c.Now()
				if r.Stream {
					at = c.Timestamp()
				}
				return c.SetTimer(topology.Timer{Name: r.Name, At: at.Add(r.Delay), Stream: r.Stream,
					Data: strconv.AppendInt(nil, int64(r.Seq), 10)})
			})},
		Outputs: []topology.Topic{tmFired},
		OnTimer: func(c *topology.Context[int64], key string, t topology.Timer) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if err := c.SetState(n + 1); err != nil {
				return err
			}
			seq, _ := strconv.Atoi(string(t.Data))
			ran := c.Now()
			if t.Stream {
				ran = c.StreamTime()
			}
			f := timerFired{Key: key, Name: t.Name, Seq: seq, At: t.At.UnixNano(), Ran: ran.UnixNano(), Before: n}
			if fired != nil {
				fired(f)
			}
			return topology.Emit(c, tmFired, key, f)
		},
	}
	return &topology.Graph{Name: "tm", Sources: []topology.Topic{tmIn}, Sinks: []topology.Topic{tmFired},
		Agents: []topology.AgentDecl{a}}
}

// produceTimerReqs writes reqs to tm-in, each under its key.
func produceTimerReqs(t *testing.T, addrs []string, reqs map[string][]timerReq) {
	t.Helper()
	produceTimerReqsAt(t, addrs, reqs, time.Time{})
}

// produceTimerReqsAt writes reqs to tm-in, each under its key, with the
// timestamp ts (the time of writing if zero).
func produceTimerReqsAt(t *testing.T, addrs []string, reqs map[string][]timerReq, ts time.Time) {
	t.Helper()
	var recs []*kgo.Record
	for key, rs := range reqs {
		for _, r := range rs {
			b, _ := json.Marshal(r)
			recs = append(recs, &kgo.Record{Topic: tmIn.Name, Key: []byte(key), Value: b, Timestamp: ts})
		}
	}
	kafkatest.Produce(t, addrs, tmIn.Name, recs...)
}

// readFired returns tm-fired's records, read committed or not.
func readFired(t *testing.T, addrs []string, committed bool) []timerFired {
	t.Helper()
	var recs []*kgo.Record
	if committed {
		recs, _ = kafkatest.ReadCommitted(t, addrs, tmFired.Name)
	} else {
		recs = kafkatest.ConsumeAll(t, addrs, tmFired.Name)
	}
	out := make([]timerFired, 0, len(recs))
	for _, r := range recs {
		var f timerFired
		if err := json.Unmarshal(r.Value, &f); err != nil {
			t.Fatalf("%s value %q: %v", tmFired.Name, r.Value, err)
		}
		out = append(out, f)
	}
	return out
}

// checkFired fails t unless fired holds, for each key of want, exactly the
// timer of want (by seq) once, or at least once without exactlyOnce, never
// before its time, and nothing for other keys. It returns the firings'
// lateness, in order.
func checkFired(t *testing.T, fired []timerFired, want map[string]int, exactlyOnce bool) []time.Duration {
	t.Helper()
	seen := map[string]int{}
	var late []time.Duration
	for _, f := range fired {
		w, ok := want[f.Key]
		switch {
		case !ok:
			t.Errorf("key %s fired %q (seq %d), which it never had pending", f.Key, f.Name, f.Seq)
		case f.Seq != w:
			t.Errorf("key %s fired seq %d, want only seq %d (replaced or cancelled timers must not fire)", f.Key, f.Seq, w)
		case f.Ran < f.At:
			t.Errorf("key %s fired %v early", f.Key, time.Duration(f.At-f.Ran))
		}
		seen[f.Key]++
		late = append(late, time.Duration(f.Ran-f.At))
	}
	for k := range want {
		switch {
		case seen[k] == 0:
			t.Errorf("key %s: its timer never fired", k)
		case exactlyOnce && seen[k] > 1:
			t.Errorf("key %s: its timer fired %d times, want once", k, seen[k])
		}
	}
	return late
}

// TestTimersOnBroker runs timers through the embedded broker in both modes:
// 300 keys each get a timer 0.2-1.4 s ahead, a third of them replace it with
// another, a sixth cancel theirs; every timer left fires once (at-least-once
// may repeat one only after a crash, and there is none here), none early,
// and the replaced and cancelled ones never.
func TestTimersOnBroker(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run("mode="+mode, func(t *testing.T) {
			eo := mode == "exactly-once"
			addrs := kafkatest.Start(t).Addrs()
			reg := metrics.New()
			opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Metrics(reg)}
			if eo {
				opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
			}
			stop := running(t, timerGraph(nil), opts...)
			reqs, want := timerSchedule(300, 0)
			produceTimerReqs(t, addrs, reqs)
			waitUntil(t, time.Minute, "every timer fired", func() bool {
				return len(readFired(t, addrs, eo)) >= len(want)
			})
			waitUntil(t, time.Minute, "every key's timers gone from the timers topic", func() bool {
				return len(pendingTimers(t, addrs, "tm-timer", eo)) == 0
			})
			pause(t, time.Second) // a timer that fires twice, or a cancelled one, would by now
			stop()
			late := checkFired(t, readFired(t, addrs, eo), want, true)
			agent := map[string]string{"agent": "tm-timer"}
			for name, want := range map[string]float64{
				"sluice_timers_fired_total":     float64(len(want)),
				"sluice_timer_lateness_seconds": float64(len(want)),
				"sluice_timers_pending":         0,
			} {
				if got, _ := metricValue(t, reg, name, agent); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			t.Logf("%d timers fired; lateness p50 %v, max %v", len(late), quantile(late, 0.5), quantile(late, 1))
		})
	}
}

// timerSchedule returns requests for n keys, each key a timer "t" 0.2-1.4 s
// ahead (offset seqs by seq0), every third key replacing it with a later one
// and every sixth cancelling it, and the seq of the timer each key should fire
// (keys whose timer was cancelled have none).
func timerSchedule(n, seq0 int) (map[string][]timerReq, map[string]int) {
	reqs := map[string][]timerReq{}
	want := map[string]int{}
	for i := range n {
		key := fmt.Sprintf("k%04d", i)
		delay := time.Duration(200+(i*37)%1200) * time.Millisecond
		reqs[key] = []timerReq{{Name: "t", Delay: delay, Seq: seq0 + i}}
		want[key] = seq0 + i
		switch {
		case i%6 == 0:
			reqs[key] = append(reqs[key], timerReq{Name: "t", Delay: -1})
			delete(want, key)
		case i%3 == 0:
			reqs[key] = append(reqs[key], timerReq{Name: "t", Delay: delay + 300*time.Millisecond, Seq: seq0 + n + i})
			want[key] = seq0 + n + i
		}
	}
	return reqs, want
}

// quantile returns the q-quantile of ds (0 for none), by nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// pendingTimers returns the keys of agent's timers topic whose last value is
// not a tombstone: keys with timers pending or fired markers not yet cleaned.
func pendingTimers(t *testing.T, addrs []string, agent string, committed bool) map[string][]byte {
	t.Helper()
	topic := topology.TimersName(agent)
	var recs []*kgo.Record
	if committed {
		recs, _ = kafkatest.ReadCommitted(t, addrs, topic)
	} else {
		recs = kafkatest.ConsumeAll(t, addrs, topic)
	}
	last := map[string][]byte{}
	for _, r := range recs {
		if r.Value == nil {
			delete(last, string(r.Key))
			continue
		}
		last[string(r.Key)] = r.Value
	}
	return last
}

// TestTimersRebalance moves partitions with pending timers between
// instances: A handles every request, B joins (the group splits the
// partitions), then A stops (B owns them all). Timers fire on whoever owns
// their key's partition when they come due, each once in exactly-once mode
// and at least once otherwise, none early; B, which set none of them, fires
// some.
func TestTimersRebalance(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run("mode="+mode, func(t *testing.T) {
			eo := mode == "exactly-once"
			addrs := kafkatest.Start(t).Addrs()
			var firedBy [2]atomic.Int64
			instance := func(i int) func() {
				g := timerGraph(func(timerFired) { firedBy[i].Add(1) })
				opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir())}
				if eo {
					opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
				}
				return running(t, g, opts...)
			}
			if _, err := topology.Provision(t.Context(), timerGraph(nil), topology.Brokers(addrs...)); err != nil {
				t.Fatal(err)
			}
			reqs, want := timerSchedule(400, 0)
			for key, rs := range reqs {
				for i := range rs {
					if rs[i].Delay > 0 { // 4-16 s after A sets them
						rs[i].Delay = 4*time.Second + time.Duration(keyNum(key)*30%12000)*time.Millisecond
					}
				}
			}
			stopA := instance(0)
			produceTimerReqs(t, addrs, reqs)
			waitCommitted(t, addrs, "tm-timer", tmIn.Name, time.Minute)
			stopB := instance(1)
			defer stopB()
			waitUntil(t, time.Minute, "B to fire a timer", func() bool { return firedBy[1].Load() > 0 })
			stopA()
			waitUntil(t, time.Minute, "every timer fired and every key's timers gone", func() bool {
				return len(pendingTimers(t, addrs, "tm-timer", eo)) == 0
			})
			stopB()
			fired := readFired(t, addrs, eo)
			late := checkFired(t, fired, want, eo)
			t.Logf("A fired %d, B fired %d, %d firings for %d timers; lateness p50 %v, max %v",
				firedBy[0].Load(), firedBy[1].Load(), len(fired), len(want), quantile(late, 0.5), quantile(late, 1))
		})
	}
}
