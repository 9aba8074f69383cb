package topology_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// timerOp is one step of TestTimersMatchModel's random schedules: on key,
// set the timer name Delay ahead (of the clock, or with Stream of the
// record's timestamp), or cancel it.
type timerOp struct {
	Name   string        `json:"name"`
	Cancel bool          `json:"cancel,omitempty"`
	Stream bool          `json:"stream,omitempty"`
	Delay  time.Duration `json:"delay"`
	// Again, on a wall-clock timer, makes its handler set it once more,
	// Again after it fired: timers set by timer handlers are timers too.
	Again time.Duration `json:"again,omitempty"`
}

var (
	propOps   = topology.Stream[timerOp]{Name: "prop-ops", Codec: topology.JSON[timerOp]()}
	propFired = topology.Stream[string]{Name: "prop-fired", Codec: topology.String()}
)

// propGraph applies timerOps and emits "KEY/NAME@AT" for each timer that
// fires (AT in ms since the harness's start).
func propGraph() *topology.Graph {
	a := topology.Agent[struct{}]{
		Name: "prop",
		Inputs: []topology.Input[struct{}]{topology.Consume(propOps,
			func(c *topology.Context[struct{}], _ string, op timerOp) error {
				if op.Cancel {
					return c.CancelTimer(op.Name)
				}
				at := c.Now().Add(op.Delay)
				if op.Stream {
					at = c.Timestamp().Add(op.Delay)
				}
				var data []byte
				if op.Again > 0 {
					data = []byte(op.Again.String())
				}
				return c.SetTimer(topology.Timer{Name: op.Name, At: at, Stream: op.Stream, Data: data})
			})},
		Outputs: []topology.Topic{propFired},
		OnTimer: func(c *topology.Context[struct{}], key string, t topology.Timer) error {
			if t.Data != nil {
				again, err := time.ParseDuration(string(t.Data))
				if err != nil {
					return err
				}
				if err := c.SetTimer(topology.Timer{Name: t.Name, At: t.At.Add(again)}); err != nil {
					return err
				}
			}
			return topology.Emit(c, propFired, key, fmt.Sprintf("%s/%s@%d", key, t.Name, t.At.Sub(topologytest.DefaultStart).Milliseconds()))
		},
	}
	return &topology.Graph{Name: "prop", Sources: []topology.Topic{propOps}, Sinks: []topology.Topic{propFired},
		Agents: []topology.AgentDecl{a}}
}

// modelTimer is a pending timer of the model.
type modelTimer struct {
	at     time.Duration // since the start
	stream bool
	again  time.Duration
}

// timerModel is what timers should do, computed the obvious way.
type timerModel struct {
	pending    map[string]modelTimer // by "key/name"
	now        time.Duration         // clock, since the start
	streamTime time.Duration         // largest record timestamp, since the start
}

// fire removes and returns, in time order, the timers due: wall-clock ones
// at or before now, stream ones at or before streamTime; those that fire
// again are pending again.
func (m *timerModel) fire() []string {
	var out []string
	for {
		var due []string
		for id, t := range m.pending {
			if (!t.stream && t.at <= m.now) || (t.stream && t.at <= m.streamTime) {
				due = append(due, id)
			}
		}
		if len(due) == 0 {
			return out
		}
		slices.SortFunc(due, func(a, b string) int { return int(m.pending[a].at - m.pending[b].at) })
		id := due[0]
		t := m.pending[id]
		delete(m.pending, id)
		out = append(out, fmt.Sprintf("%s@%d", id, t.at.Milliseconds()))
		if t.again > 0 {
			m.pending[id] = modelTimer{at: t.at + t.again}
		}
	}
}

// TestTimersMatchModel runs random schedules of sets, replacements, cancels,
// stream records and clock advances through the harness and compares what
// fired, at each step, with the model: the same timers, each once, in time
// order, none early, none cancelled or replaced.
func TestTimersMatchModel(t *testing.T) {
	for seed := range uint64(150) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { timersMatchModel(t, seed) })
	}
}

func timersMatchModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 19))
	h := topologytest.New(t, propGraph())
	m := &timerModel{pending: map[string]modelTimer{}}
	keys := []string{"a", "b", "c"}
	names := []string{"x", "y"}
	var log []string
	for step := range 60 {
		key, name := keys[rng.IntN(len(keys))], names[rng.IntN(len(names))]
		id := key + "/" + name
		var want []string
		switch r := rng.IntN(10); {
		case r < 4: // set or replace a wall-clock timer
			op := timerOp{Name: name, Delay: time.Duration(rng.IntN(5000)) * time.Millisecond}
			if rng.IntN(4) == 0 {
				op.Again = time.Duration(1+rng.IntN(3000)) * time.Millisecond
			}
			topologytest.Consume(h, propOps, key, op, topologytest.WithTime(topologytest.DefaultStart.Add(m.streamTime)))
			m.pending[id] = modelTimer{at: m.now + op.Delay, again: op.Again}
			log = append(log, fmt.Sprintf("set %s +%v again %v", id, op.Delay, op.Again))
		case r < 6: // set or replace a stream timer, with a record that may move stream time
			ts := m.streamTime + time.Duration(rng.IntN(3000)-500)*time.Millisecond
			op := timerOp{Name: name, Stream: true, Delay: time.Duration(rng.IntN(4000)) * time.Millisecond}
			topologytest.Consume(h, propOps, key, op, topologytest.WithTime(topologytest.DefaultStart.Add(max(ts, 0))))
			m.pending[id] = modelTimer{at: max(ts, 0) + op.Delay, stream: true}
			m.streamTime = max(m.streamTime, ts)
			log = append(log, fmt.Sprintf("stream %s ts %v +%v", id, ts, op.Delay))
		case r < 7:
			topologytest.Consume(h, propOps, key, timerOp{Name: name, Cancel: true}, topologytest.WithTime(topologytest.DefaultStart.Add(m.streamTime)))
			delete(m.pending, id)
			log = append(log, "cancel "+id)
		default:
			d := time.Duration(rng.IntN(3000)) * time.Millisecond
			topologytest.Advance(h, d)
			m.now += d
			log = append(log, fmt.Sprintf("advance %v", d))
		}
		want = m.fire()
		got := values(topologytest.Output(h, propFired))
		if !slices.Equal(sortedAt(got), sortedAt(want)) || !ordered(got) {
			t.Fatalf("step %d: fired %q, want %q (in time order)\nsteps:\n%s", step, got, want, strings.Join(log, "\n"))
		}
	}
}

// ordered reports whether firings "ID@MS" are in time order.
func ordered(fired []string) bool {
	return slices.IsSortedFunc(fired, func(a, b string) int { return int(atOf(a) - atOf(b)) })
}

// sortedAt returns fired sorted by time, then name: timers due at the same
// time may fire in any order.
func sortedAt(fired []string) []string {
	s := slices.Clone(fired)
	slices.SortFunc(s, func(a, b string) int {
		if d := atOf(a) - atOf(b); d != 0 {
			return int(d)
		}
		return strings.Compare(a, b)
	})
	return s
}

func atOf(f string) int64 {
	var ms int64
	_, _ = fmt.Sscanf(f[strings.LastIndexByte(f, '@')+1:], "%d", &ms)
	return ms
}
