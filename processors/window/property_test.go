package window_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// model is a brute-force window aggregation, written from the package
// documentation rather than from the agent: it keeps every record of every key
// forever and recomputes each aggregate from all of them. It shares with the
// agent only the definitions: per-key stream time; a window accepts records
// until stream time reaches its end plus grace; a record is late if the window
// containing it that ends first has closed.
type model struct {
	kind                  window.Kind
	size, advance, grace  int64
	gap, idle             int64
	agg                   window.Aggregation
	updates, finals       bool
	keys                  map[string]*modelKey
	emitted, late, record int // counts, to compare with Metrics
}

type modelKey struct {
	streamTime int64
	records    []in           // every record, in arrival order
	windows    map[int64]bool // start of every window that accepted a record
	open       []in           // sessions: the records of sessions not closed
	base, wall int64          // stream time and wall clock (ms) at the last record, for Idle
}

func newModel(c window.Config[txn]) *model {
	m := &model{kind: c.Kind, size: c.Size.Milliseconds(), advance: c.Advance.Milliseconds(), grace: c.Grace.Milliseconds(),
		gap: c.Gap.Milliseconds(), idle: c.Idle.Milliseconds(),
		agg: c.Aggregation, updates: !c.FinalOnly, finals: c.EmitFinal, keys: map[string]*modelKey{}}
	if m.kind == window.Tumbling {
		m.advance = m.size
	}
	return m
}

// windowsOf returns the starts of the windows containing t, ascending: for
// aligned windows every multiple of advance in (t-size, t]; for sliding ones
// the window of t itself and of every accepted later time within size.
func (m *model) windowsOf(k *modelKey, t int64) []int64 {
	var starts []int64
	if m.kind == window.Sliding {
		for s := range k.windows {
			if s <= t && t < s+m.size {
				starts = append(starts, s)
			}
		}
		if own := t + 1 - m.size; !slices.Contains(starts, own) {
			starts = append(starts, own)
		}
		slices.Sort(starts)
		return starts
	}
	for s := t - t%m.advance; s > t-m.size; s -= m.advance {
		starts = append(starts, s)
	}
	slices.Reverse(starts)
	return starts
}

// aggregate recomputes the window at start over every record of k so far.
func (m *model) aggregate(k *modelKey, key string, start, now int64, final bool) out {
	return m.aggregateOf(k.records, key, start, start+m.size, now, final)
}

// aggregateOf computes the window [start, end) over recs.
func (m *model) aggregateOf(recs []in, key string, start, end, now int64, final bool) out {
	r := window.Result{Start: time.UnixMilli(start), End: time.UnixMilli(end), Aggregation: m.agg,
		Final: final, StreamTime: time.UnixMilli(now)}
	for _, rec := range recs {
		if rec.t < start || rec.t >= end {
			continue
		}
		if r.Count == 0 || rec.v < r.Min {
			r.Min = rec.v
		}
		if r.Count == 0 || rec.v > r.Max {
			r.Max = rec.v
		}
		r.Count++
		r.Sum += rec.v
	}
	r.Value = map[window.Aggregation]float64{window.Count: float64(r.Count), window.Sum: r.Sum, window.Avg: r.Avg(),
		window.Min: r.Min, window.Max: r.Max}[m.agg]
	return resultOut(key, r)
}

// consume returns what the agent must emit for rec, in order.
func (m *model) consume(rec in) []out {
	k := m.keys[rec.key]
	if k == nil {
		k = &modelKey{streamTime: rec.t, windows: map[int64]bool{}}
		m.keys[rec.key] = k
	}
	old := k.streamTime
	now := max(old, rec.t)
	k.streamTime = now
	if m.kind == window.Session {
		return m.consumeSession(k, rec, old, now)
	}
	k.records = append(k.records, rec)
	closed := func(start, at int64) bool { return start+m.size+m.grace <= at }

	var outs []out
	starts := m.windowsOf(k, rec.t)
	for _, s := range starts {
		if closed(s, now) {
			continue
		}
		k.windows[s] = true
		if m.updates {
			outs = append(outs, m.aggregate(k, rec.key, s, now, false))
			m.emitted++
		}
	}
	var closing []int64
	for s := range k.windows {
		if !closed(s, old) && closed(s, now) {
			closing = append(closing, s)
		}
	}
	slices.Sort(closing)
	if m.finals {
		for _, s := range closing {
			outs = append(outs, m.aggregate(k, rec.key, s, now, true))
			m.emitted++
		}
	}
	// The window ending first: aligned, the earliest start; sliding, the own one.
	first := starts[0]
	if m.kind == window.Sliding {
		first = rec.t + 1 - m.size
	}
	if closed(first, now) {
		outs = append(outs, lateOut(rec.key, rec.t, rec.v, now))
		m.late++
	}
	return outs
}

// stream returns n random records over keys keys: timestamps mostly increase
// but jitter back by up to about one window plus grace, and now and then jump
// far back, so that every path (in order, out of order within grace, partly
// and fully late) is taken.
func stream(rng *rand.Rand, prefix string, n, keys int, size, grace int64) []in {
	clocks := make([]int64, keys)
	for i := range clocks {
		clocks[i] = 1_000_000 + rng.Int64N(1000)
	}
	recs := make([]in, n)
	for i := range recs {
		k := rng.IntN(keys)
		clocks[k] += rng.Int64N(size/2 + 1)
		t := clocks[k]
		switch p := rng.Float64(); {
		case p < 0.05:
			t -= rng.Int64N(4*size + 1)
		case p < 0.35:
			t -= rng.Int64N(size + grace + 2)
		}
		recs[i] = in{key: fmt.Sprintf("%s-k%d", prefix, k), t: t, v: float64(rng.IntN(201) - 100)}
	}
	return recs
}

// deepSeeds runs the fold test over more seeds than the default 200, for a
// deeper search than CI's: go test -run Fold ./processors/window -seeds 100000.
var deepSeeds = flag.Int("seeds", 0, "seeds per configuration of TestFoldMatchesBruteForce (0: 200, or 40 with -short)")

// configs are the configurations the property tests cover: every kind and
// aggregation, with and without grace and final results.
func configs() []window.Config[txn] {
	withFinal := func(c window.Config[txn], finalOnly bool) window.Config[txn] {
		c.EmitFinal, c.FinalOnly = true, finalOnly
		return c
	}
	return []window.Config[txn]{
		config(window.Tumbling, 20, 0, 0, window.Count),
		withFinal(config(window.Tumbling, 20, 0, 15, window.Sum), false),
		withFinal(config(window.Tumbling, 7, 0, 40, window.Avg), true),
		withFinal(config(window.Hopping, 30, 10, 5, window.Min), false),
		withFinal(config(window.Hopping, 25, 7, 0, window.Max), false),
		config(window.Hopping, 24, 24, 3, window.Sum),
		withFinal(config(window.Sliding, 20, 0, 0, window.Sum), false),
		withFinal(config(window.Sliding, 30, 0, 10, window.Max), false),
		withFinal(config(window.Sliding, 5, 0, 50, window.Count), true),
		session(10, 0, window.Count),
		withFinal(session(15, 10, window.Sum), false),
		withFinal(session(6, 30, window.Max), true),
		withFinal(session(25, 5, window.Min), false),
	}
}

// session returns the config of a session aggregation; gap and grace in ms.
func session(gap, grace int, agg window.Aggregation) window.Config[txn] {
	c := config(window.Session, 0, 0, grace, agg)
	c.Gap = time.Duration(gap) * time.Millisecond
	return c
}

// span is the time scale of c's windows in ms: their size, or for sessions
// twice the gap.
func span(c window.Config[txn]) int64 {
	if c.Kind == window.Session {
		return 2 * c.Gap.Milliseconds()
	}
	return c.Size.Milliseconds()
}

func configName(c window.Config[txn]) string {
	return fmt.Sprintf("%s/size=%v/advance=%v/gap=%v/grace=%v/%s/final=%t/only=%t",
		c.Kind, c.Size, c.Advance, c.Gap, c.Grace, c.Aggregation, c.EmitFinal, c.FinalOnly)
}

// compare feeds seeds random streams of n records to run, the system under
// test, and fails at the first output that differs from the model's. Keys have
// their own stream time, so the seeds share one run, each with its own keys.
// It returns the model, for the totals.
func compare(t *testing.T, c window.Config[txn], seeds, n int, run func([]in) []out) *model {
	t.Helper()
	m := newModel(c)
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 5))
		recs := stream(rng, fmt.Sprintf("s%d", seed), n, 1+rng.IntN(3), span(c), c.Grace.Milliseconds())
		var want []out
		for _, r := range recs {
			want = append(want, m.consume(r)...)
		}
		if got := run(recs); !slices.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("seed %d: output %d of %d (want %d) differs:\ngot  %s\nwant %s\ninput: %v",
				seed, i, len(got), len(want), at(got, i), at(want, i), recs)
		}
	}
	if m.late == 0 || m.emitted == 0 {
		t.Errorf("the streams had %d late records and %d results: the test exercised too little", m.late, m.emitted)
	}
	return m
}

// TestFoldMatchesBruteForce compares every result, final result and late
// record of the agent's per-record logic with the model's over thousands of
// random out-of-order streams, for every window kind and aggregation. Values
// are integers, so sums in any order are exact and results compare as text.
func TestFoldMatchesBruteForce(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 40
	}
	if *deepSeeds > 0 {
		seeds = *deepSeeds
	}
	for _, c := range configs() {
		t.Run(configName(c), func(t *testing.T) {
			t.Parallel()
			f, err := window.NewFolder(c)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, c, seeds, 100, func(recs []in) []out {
				var outs []out
				for _, r := range recs {
					res, late, now, err := f.Consume(r.key, r.t, r.v)
					if err != nil {
						t.Fatalf("Consume(%v): %v", r, err)
					}
					for _, x := range res {
						outs = append(outs, resultOut(r.key, x))
					}
					if late {
						outs = append(outs, lateOut(r.key, r.t, r.v, now))
					}
				}
				return outs
			})
		})
	}
}

// TestAgentMatchesBruteForce runs the same comparison through the agent on
// goka's tester: decoding, state in the table, emits to the output and late
// topics, and Metrics. Fewer seeds: the fold test covers the logic's paths.
func TestAgentMatchesBruteForce(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 5
	}
	for _, c := range configs() {
		t.Run(configName(c), func(t *testing.T) {
			c.Metrics = new(window.Metrics)
			g, _ := graph(t, c)
			h := topologytest.New(t, g)
			m := compare(t, c, seeds, 100, func(recs []in) []out { return feedOut(h, recs) })
			if got := c.Metrics.Late(); got != int64(m.late) {
				t.Errorf("Metrics.Late() = %d, want %d", got, m.late)
			}
			if got := c.Metrics.Updates() + c.Metrics.Finals(); got != int64(m.emitted) {
				t.Errorf("Metrics updates+finals = %d, want %d", got, m.emitted)
			}
		})
	}
}

func at(s []out, i int) string {
	if i < len(s) {
		return s[i].String()
	}
	return "(end)"
}

// sessions splits recs into sessions, brute force: sorted by time, a gap of
// at least gap between two neighbours ends one. It returns each session's
// records and bounds [start, end], by start.
func (m *model) sessions(recs []in) (groups [][]in, bounds [][2]int64) {
	s := slices.Clone(recs)
	slices.SortStableFunc(s, func(a, b in) int { return int(a.t - b.t) })
	for i, r := range s {
		if i == 0 || r.t-s[i-1].t >= m.gap {
			groups = append(groups, nil)
			bounds = append(bounds, [2]int64{r.t, r.t})
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], r)
		bounds[len(bounds)-1][1] = r.t
	}
	return groups, bounds
}

// consumeSession is consume for session windows: the records of open
// sessions are split into sessions from scratch each time; a record is late
// if its session, so found, has closed; sessions close when stream time
// reaches their end plus gap and grace, and their records leave.
func (m *model) consumeSession(k *modelKey, rec in, old, now int64) []out {
	var outs []out
	groups, bounds := m.sessions(append(slices.Clone(k.open), rec))
	for i, g := range groups {
		if !slices.Contains(g, rec) {
			continue
		}
		if bounds[i][1]+m.gap+m.grace <= now {
			outs = append(outs, lateOut(rec.key, rec.t, rec.v, now))
			m.late++
			return append(outs, m.closeSessions(k, rec.key, now)...)
		}
		k.open = append(k.open, rec)
		if m.updates {
			outs = append(outs, m.aggregateOf(g, rec.key, bounds[i][0], bounds[i][1]+1, now, false))
			m.emitted++
		}
	}
	_ = old
	return append(outs, m.closeSessions(k, rec.key, now)...)
}

// closeSessions closes the sessions of k whose end plus gap and grace is at
// or before now: their final results, by start; their records leave.
func (m *model) closeSessions(k *modelKey, key string, now int64) []out {
	var outs []out
	groups, bounds := m.sessions(k.open)
	var open []in
	for i, g := range groups {
		if bounds[i][1]+m.gap+m.grace > now {
			open = append(open, g...)
			continue
		}
		if m.finals {
			outs = append(outs, m.aggregateOf(g, key, bounds[i][0], bounds[i][1]+1, now, true))
			m.emitted++
		}
	}
	k.open = open
	return outs
}
