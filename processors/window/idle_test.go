package window_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// advanceWall returns what the agent must emit when the wall clock moves to
// wall (ms): for each key whose records stopped, its stream time follows the
// wall clock, Idle behind it, from its last record's (base at wall time
// k.wall); each time it reaches the close of the key's next window, the
// windows closing then close, with that as their stream time.
func (m *model) advanceWall(wall int64) map[string][]out {
	outs := map[string][]out{}
	for key, k := range m.keys {
		for {
			next, ok := m.nextClose(k)
			if !ok || k.wall+m.idle+(next-k.base) > wall {
				break
			}
			outs[key] = append(outs[key], m.advanceTo(k, key, next)...)
		}
	}
	return outs
}

// nextClose returns the stream time at which the next open window of k
// closes.
func (m *model) nextClose(k *modelKey) (int64, bool) {
	var closes []int64
	if m.kind == window.Session {
		_, bounds := m.sessions(k.open)
		for _, b := range bounds {
			closes = append(closes, b[1]+m.gap+m.grace)
		}
	} else {
		for s := range k.windows {
			if c := s + m.size + m.grace; c > k.streamTime {
				closes = append(closes, c)
			}
		}
	}
	if len(closes) == 0 {
		return 0, false
	}
	return slices.Min(closes), true
}

// advanceTo moves k's stream time to now with no record and returns the final
// results of the windows that closed.
func (m *model) advanceTo(k *modelKey, key string, now int64) []out {
	old := k.streamTime
	k.streamTime = now
	if m.kind == window.Session {
		return m.closeSessions(k, key, now)
	}
	var closing []int64
	for s := range k.windows {
		if s+m.size+m.grace > old && s+m.size+m.grace <= now {
			closing = append(closing, s)
		}
	}
	slices.Sort(closing)
	var outs []out
	if m.finals {
		for _, s := range closing {
			outs = append(outs, m.aggregate(k, key, s, now, true))
			m.emitted++
		}
	}
	return outs
}

// TestIdleMatchesModel interleaves records of a few keys with moves of the
// harness's wall clock, at random, for every configuration with Idle set:
// windows of keys whose records stopped close by the wall clock, emitting
// their final results and leaving the state, exactly as the model says, and
// a record after that finds them closed. Outputs are compared per key (the
// timers of different keys due at one moment may fire in any order).
func TestIdleMatchesModel(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 3
	}
	for _, c := range configs() {
		c.Idle = 40 * time.Millisecond
		t.Run(configName(c), func(t *testing.T) {
			closedByClock := 0
			for seed := range seeds {
				closedByClock += idleMatchesModel(t, c, uint64(seed))
			}
			if c.EmitFinal && closedByClock == 0 {
				t.Errorf("no window closed by the wall clock: the test exercised too little")
			}
		})
	}
}

func idleMatchesModel(t *testing.T, c window.Config[txn], seed uint64) (closedByClock int) {
	t.Helper()
	g, _ := graph(t, c)
	start := topologytest.DefaultStart
	h := topologytest.New(t, g)
	m := newModel(c)
	rng := rand.New(rand.NewPCG(seed, 13))
	sp := span(c)
	keys := 1 + rng.IntN(3)
	clocks := make([]int64, keys)
	for i := range clocks {
		clocks[i] = 1_000_000 + rng.Int64N(1000)
	}
	want, got := map[string][]out{}, map[string][]out{}
	collect := func() {
		for _, o := range topologytest.Output(h, results) {
			got[o.Key] = append(got[o.Key], resultOut(o.Key, o.Value))
		}
		for _, o := range topologytest.Output(h, lates) {
			got[o.Key] = append(got[o.Key], lateOut(o.Key, o.Value.Time.UnixMilli(), o.Value.Value.Amount, o.Value.StreamTime.UnixMilli()))
		}
	}
	var steps []string
	for range 80 {
		wall := topologytest.Now(h).Sub(start).Milliseconds()
		if rng.IntN(3) == 0 {
			d := rng.Int64N(3*sp + 2*m.idle)
			topologytest.Advance(h, time.Duration(d)*time.Millisecond)
			for key, os := range m.advanceWall(wall + d) {
				want[key] = append(want[key], os...)
				closedByClock += len(os)
			}
			steps = append(steps, fmt.Sprintf("advance %dms", d))
		} else {
			k := rng.IntN(keys)
			clocks[k] += rng.Int64N(sp/2 + 1)
			ts := clocks[k]
			if rng.IntN(4) == 0 {
				ts -= rng.Int64N(sp + 1)
			}
			r := in{key: fmt.Sprintf("i%d-k%d", seed, k), t: ts, v: float64(rng.IntN(201) - 100)}
			topologytest.Consume(h, txns, r.key, txn{Amount: r.v}, topologytest.WithTime(time.UnixMilli(r.t)))
			want[r.key] = append(want[r.key], m.consume(r)...)
			mk := m.keys[r.key]
			mk.base, mk.wall = mk.streamTime, wall
			steps = append(steps, fmt.Sprintf("record %s t=%d", r.key, r.t))
		}
		collect()
		for key := range want {
			if !slices.Equal(got[key], want[key]) {
				t.Fatalf("seed %d, key %s: got\n%s\nwant\n%s\nsteps:\n%s", seed, key, outs(got[key]), outs(want[key]), strings.Join(steps, "\n"))
			}
		}
	}
	return closedByClock
}

func outs(os []out) string {
	var s []string
	for _, o := range os {
		s = append(s, "  "+o.String())
	}
	return strings.Join(s, "\n")
}
