package window_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// txn is the input of the tests: an amount, aggregated per account (the key).
type txn struct {
	Amount float64 `json:"amount"`
}

var (
	txns    = topology.Stream[txn]{Name: "txns", Codec: topology.JSON[txn]()}
	results = topology.Stream[window.Result]{Name: "results", Codec: topology.JSON[window.Result]()}
	lates   = topology.Stream[window.LateRecord[txn]]{Name: "late-txns", Codec: topology.JSON[window.LateRecord[txn]]()}
)

func amount(t txn) float64 { return t.Amount }

// config returns the config of the tests' agent with the given shape; sizes are
// in milliseconds.
func config(kind window.Kind, size, advance, grace int, agg window.Aggregation) window.Config[txn] {
	return window.Config[txn]{
		Name:        "agg",
		Input:       txns,
		Value:       amount,
		Kind:        kind,
		Size:        time.Duration(size) * time.Millisecond,
		Advance:     time.Duration(advance) * time.Millisecond,
		Grace:       time.Duration(grace) * time.Millisecond,
		Aggregation: agg,
		Output:      results,
		Late:        lates,
	}
}

func graph(t testing.TB, c window.Config[txn]) (*topology.Graph, topology.Agent[window.State]) {
	t.Helper()
	a, err := window.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &topology.Graph{
		Name:    "window",
		Sources: []topology.Topic{c.Input},
		Sinks:   []topology.Topic{c.Output, c.Late},
		Agents:  []topology.AgentDecl{a},
	}, a
}

// in is one input record: key, timestamp in ms since the epoch, amount.
type in struct {
	key string
	t   int64
	v   float64
}

// out is one record the agent emitted: a result, or a late record. It is
// comparable, so that property tests compare without formatting.
type out struct {
	key                  string
	late                 bool
	t, start, end, now   int64 // t: a late record's timestamp; now: stream time
	v                    float64
	agg                  window.Aggregation
	count                int64
	value, sum, min, max float64
	final                bool
}

func resultOut(key string, r window.Result) out {
	return out{key: key, start: r.Start.UnixMilli(), end: r.End.UnixMilli(), now: r.StreamTime.UnixMilli(),
		agg: r.Aggregation, count: r.Count, value: r.Value, sum: r.Sum, min: r.Min, max: r.Max, final: r.Final}
}

func lateOut(key string, t int64, v float64, now int64) out {
	return out{key: key, late: true, t: t, v: v, now: now}
}

func (o out) String() string {
	if o.late {
		return fmt.Sprintf("%s late t=%d v=%g @%d", o.key, o.t, o.v, o.now)
	}
	s := fmt.Sprintf("%s [%d,%d) %s=%g n=%d sum=%g min=%g max=%g @%d",
		o.key, o.start, o.end, o.agg, o.value, o.count, o.sum, o.min, o.max, o.now)
	if o.final {
		s += " final"
	}
	return s
}

// feedOut consumes the records and returns what the agent emitted, in order.
func feedOut(h *topologytest.Harness, recs []in) []out {
	var outs []out
	for _, r := range recs {
		topologytest.Consume(h, txns, r.key, txn{Amount: r.v}, topologytest.WithTime(time.UnixMilli(r.t)))
		for _, o := range topologytest.Output(h, results) {
			outs = append(outs, resultOut(o.Key, o.Value))
		}
		for _, o := range topologytest.Output(h, lates) {
			outs = append(outs, lateOut(o.Key, o.Value.Time.UnixMilli(), o.Value.Value.Amount, o.Value.StreamTime.UnixMilli()))
		}
	}
	return outs
}

// feed is feedOut, formatted.
func feed(h *topologytest.Harness, recs []in) []string {
	var s []string
	for _, o := range feedOut(h, recs) {
		s = append(s, o.String())
	}
	return s
}

// TestScenarios pins the semantics on small streams: which windows a record
// updates, when a window closes and emits its final result, and what is late.
func TestScenarios(t *testing.T) {
	final := func(c window.Config[txn]) window.Config[txn] { c.EmitFinal = true; return c }
	finalOnly := func(c window.Config[txn]) window.Config[txn] { c.EmitFinal, c.FinalOnly = true, true; return c }
	for _, tc := range []struct {
		name string
		c    window.Config[txn]
		recs []in
		want []string
	}{
		{
			"tumbling: updates, then the final result when stream time reaches the end",
			final(config(window.Tumbling, 10, 0, 0, window.Sum)),
			[]in{{"a", 1, 1}, {"a", 5, 2}, {"a", 12, 4}},
			[]string{
				"a [0,10) sum=1 n=1 sum=1 min=1 max=1 @1",
				"a [0,10) sum=3 n=2 sum=3 min=1 max=2 @5",
				"a [10,20) sum=4 n=1 sum=4 min=4 max=4 @12",
				"a [0,10) sum=3 n=2 sum=3 min=1 max=2 @12 final",
			},
		},
		{
			"tumbling: a record behind a closed window is late, counted nowhere",
			config(window.Tumbling, 10, 0, 0, window.Count),
			[]in{{"a", 1, 1}, {"a", 12, 1}, {"a", 8, 7}, {"a", 10, 1}},
			[]string{
				"a [0,10) count=1 n=1 sum=1 min=1 max=1 @1",
				"a [10,20) count=1 n=1 sum=1 min=1 max=1 @12",
				"a late t=8 v=7 @12",
				"a [10,20) count=2 n=2 sum=2 min=1 max=1 @12",
			},
		},
		{
			"tumbling: grace keeps a window open after its end",
			final(config(window.Tumbling, 10, 0, 5, window.Max)),
			[]in{{"a", 1, 3}, {"a", 12, 1}, {"a", 8, 9}, {"a", 15, 2}, {"a", 9, 1}},
			[]string{
				"a [0,10) max=3 n=1 sum=3 min=3 max=3 @1",
				"a [10,20) max=1 n=1 sum=1 min=1 max=1 @12",
				"a [0,10) max=9 n=2 sum=12 min=3 max=9 @12",
				"a [10,20) max=2 n=2 sum=3 min=1 max=2 @15",
				"a [0,10) max=9 n=2 sum=12 min=3 max=9 @15 final",
				"a late t=9 v=1 @15",
			},
		},
		{
			"tumbling: keys have their own stream time",
			config(window.Tumbling, 10, 0, 0, window.Count),
			[]in{{"a", 100, 1}, {"b", 5, 1}, {"a", 50, 1}},
			[]string{
				"a [100,110) count=1 n=1 sum=1 min=1 max=1 @100",
				"b [0,10) count=1 n=1 sum=1 min=1 max=1 @5", // not late: b's time is its own
				"a late t=50 v=1 @100",
			},
		},
		{
			"hopping: a record updates every window containing it",
			config(window.Hopping, 10, 5, 0, window.Avg),
			[]in{{"a", 7, 2}, {"a", 11, 4}},
			[]string{
				"a [0,10) avg=2 n=1 sum=2 min=2 max=2 @7",
				"a [5,15) avg=2 n=1 sum=2 min=2 max=2 @7",
				"a [5,15) avg=3 n=2 sum=6 min=2 max=4 @11",
				"a [10,20) avg=4 n=1 sum=4 min=4 max=4 @11",
			},
		},
		{
			"hopping: partly late counts in its open windows and is reported",
			final(config(window.Hopping, 10, 5, 0, window.Count)),
			[]in{{"a", 2, 1}, {"a", 12, 1}, {"a", 8, 1}},
			[]string{
				"a [-5,5) count=1 n=1 sum=1 min=1 max=1 @2",
				"a [0,10) count=1 n=1 sum=1 min=1 max=1 @2",
				"a [5,15) count=1 n=1 sum=1 min=1 max=1 @12",
				"a [10,20) count=1 n=1 sum=1 min=1 max=1 @12",
				"a [-5,5) count=1 n=1 sum=1 min=1 max=1 @12 final",
				"a [0,10) count=1 n=1 sum=1 min=1 max=1 @12 final",
				"a [5,15) count=2 n=2 sum=2 min=1 max=1 @12",
				"a late t=8 v=1 @12",
			},
		},
		{
			"hopping: final only",
			finalOnly(config(window.Hopping, 10, 5, 0, window.Min)),
			[]in{{"a", 7, 2}, {"a", 8, -1}, {"a", 16, 5}},
			[]string{
				"a [0,10) min=-1 n=2 sum=1 min=-1 max=2 @16 final",
				"a [5,15) min=-1 n=2 sum=1 min=-1 max=2 @16 final",
			},
		},
		{
			"sliding: each record's window looks back Size; an older record updates later windows",
			final(config(window.Sliding, 10, 0, 0, window.Sum)),
			[]in{{"a", 100, 1}, {"a", 105, 2}, {"a", 103, 4}, {"a", 112, 8}},
			[]string{
				"a [91,101) sum=1 n=1 sum=1 min=1 max=1 @100",
				"a [96,106) sum=3 n=2 sum=3 min=1 max=2 @105",
				"a [91,101) sum=1 n=1 sum=1 min=1 max=1 @105 final",
				"a [96,106) sum=7 n=3 sum=7 min=1 max=4 @105", // 103's own window had closed
				"a late t=103 v=4 @105",
				"a [103,113) sum=14 n=3 sum=14 min=2 max=8 @112",
				"a [96,106) sum=7 n=3 sum=7 min=1 max=4 @112 final",
			},
		},
		{
			"sliding: grace admits an older record into its own window",
			final(config(window.Sliding, 10, 0, 5, window.Sum)),
			[]in{{"a", 100, 1}, {"a", 105, 2}, {"a", 103, 4}, {"a", 112, 8}},
			[]string{
				"a [91,101) sum=1 n=1 sum=1 min=1 max=1 @100",
				"a [96,106) sum=3 n=2 sum=3 min=1 max=2 @105",
				"a [94,104) sum=5 n=2 sum=5 min=1 max=4 @105",
				"a [96,106) sum=7 n=3 sum=7 min=1 max=4 @105",
				"a [103,113) sum=14 n=3 sum=14 min=2 max=8 @112",
				"a [91,101) sum=1 n=1 sum=1 min=1 max=1 @112 final",
				"a [94,104) sum=5 n=2 sum=5 min=1 max=4 @112 final",
				"a [96,106) sum=7 n=3 sum=7 min=1 max=4 @112 final",
			},
		},
		{
			"sliding: records at one time share a window",
			config(window.Sliding, 10, 0, 0, window.Count),
			[]in{{"a", 100, 1}, {"a", 100, 1}, {"a", 95, 1}},
			[]string{
				"a [91,101) count=1 n=1 sum=1 min=1 max=1 @100",
				"a [91,101) count=2 n=2 sum=2 min=1 max=1 @100",
				"a [91,101) count=3 n=3 sum=3 min=1 max=1 @100",
				"a late t=95 v=1 @100",
			},
		},
		{
			"session: records less than gap apart are one session; it grows both ways and closes at end+gap+grace",
			final(sessionConfig(10, 0, window.Sum)),
			[]in{{"a", 0, 1}, {"a", 5, 2}, {"a", 30, 4}, {"a", 24, 8}, {"a", 17, 16}, {"a", 50, 32}},
			[]string{
				"a [0,1) sum=1 n=1 sum=1 min=1 max=1 @0",
				"a [0,6) sum=3 n=2 sum=3 min=1 max=2 @5",
				"a [30,31) sum=4 n=1 sum=4 min=4 max=4 @30",
				"a [0,6) sum=3 n=2 sum=3 min=1 max=2 @30 final",
				"a [24,31) sum=12 n=2 sum=12 min=4 max=8 @30",
				"a [17,31) sum=28 n=3 sum=28 min=4 max=16 @30",
				"a [50,51) sum=32 n=1 sum=32 min=32 max=32 @50",
				"a [17,31) sum=28 n=3 sum=28 min=4 max=16 @50 final",
			},
		},
		{
			"session: a record between two sessions merges them; one whose session closed is late",
			final(sessionConfig(10, 5, window.Count)),
			[]in{{"a", 0, 1}, {"a", 14, 1}, {"a", 7, 1}, {"a", 60, 1}, {"a", 40, 1}},
			[]string{
				"a [0,1) count=1 n=1 sum=1 min=1 max=1 @0",
				"a [14,15) count=1 n=1 sum=1 min=1 max=1 @14",
				"a [0,15) count=3 n=3 sum=3 min=1 max=1 @14",
				"a [60,61) count=1 n=1 sum=1 min=1 max=1 @60",
				"a [0,15) count=3 n=3 sum=3 min=1 max=1 @60 final",
				"a late t=40 v=1 @60",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := graph(t, tc.c)
			h := topologytest.New(t, g)
			got := feed(h, tc.recs)
			if !slices.Equal(got, tc.want) {
				t.Errorf("emitted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// sessionConfig returns the config of a session aggregation; gap and grace
// in ms.
func sessionConfig(gap, grace int, agg window.Aggregation) window.Config[txn] {
	c := config(window.Session, 0, 0, grace, agg)
	c.Gap = time.Duration(gap) * time.Millisecond
	return c
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	valid := config(window.Hopping, 10, 5, 0, window.Sum)
	for _, tc := range []struct {
		name   string
		change func(c *window.Config[txn])
		want   string // in the error, saying what to fix
	}{
		{"no name", func(c *window.Config[txn]) { c.Name = "" }, "Name is empty"},
		{"no input", func(c *window.Config[txn]) { c.Input.Name = "" }, "Input"},
		{"no output", func(c *window.Config[txn]) { c.Output.Name = "" }, "Output"},
		{"no late topic", func(c *window.Config[txn]) { c.Late.Name = "" }, "late records must go somewhere"},
		{"zero size", func(c *window.Config[txn]) { c.Size = 0 }, "Size 0s"},
		{"sub-millisecond size", func(c *window.Config[txn]) { c.Size = 1500 * time.Microsecond }, "whole milliseconds"},
		{"negative grace", func(c *window.Config[txn]) { c.Grace = -time.Millisecond }, "Grace"},
		{"unknown aggregation", func(c *window.Config[txn]) { c.Aggregation = 9 }, "Aggregation"},
		{"sum without value", func(c *window.Config[txn]) { c.Value = nil }, "Value is nil"},
		{"final only without final", func(c *window.Config[txn]) { c.FinalOnly = true }, "FinalOnly"},
		{"hopping without advance", func(c *window.Config[txn]) { c.Advance = 0 }, "Advance 0s"},
		{"hopping advance over size", func(c *window.Config[txn]) { c.Advance = 11 * time.Millisecond }, "1ms to Size"},
		{"tumbling with advance", func(c *window.Config[txn]) { c.Kind = window.Tumbling }, "use Hopping"},
		{"sliding with advance", func(c *window.Config[txn]) { c.Kind = window.Sliding }, "leave it 0"},
		{"unknown kind", func(c *window.Config[txn]) { c.Kind = 7 }, "Kind"},
		{"negative idle", func(c *window.Config[txn]) { c.Idle = -time.Second }, "Idle"},
		{"gap outside sessions", func(c *window.Config[txn]) { c.Gap = time.Second }, "only session windows have a gap"},
		{"session with size", func(c *window.Config[txn]) { c.Kind, c.Gap = window.Session, time.Second }, "leave both 0 and set Gap"},
		{"session without gap", func(c *window.Config[txn]) { c.Kind, c.Size, c.Advance = window.Session, 0, 0 }, "Gap 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			_, err := window.New(c)
			if !errors.Is(err, window.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		change func(c *window.Config[txn])
	}{
		{"hopping", func(c *window.Config[txn]) {}},
		{"hopping with advance = size", func(c *window.Config[txn]) { c.Advance = c.Size }},
		{"tumbling with advance = size", func(c *window.Config[txn]) { c.Kind, c.Advance = window.Tumbling, c.Size }},
		{"count without value", func(c *window.Config[txn]) { c.Aggregation, c.Value = window.Count, nil }},
		{"sliding", func(c *window.Config[txn]) { c.Kind, c.Advance = window.Sliding, 0 }},
	} {
		t.Run("valid "+tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			if _, err := window.New(c); err != nil {
				t.Fatalf("New = %v, want nil", err)
			}
		})
	}
}

// TestBadRecordsAreDeadLettered pins that a record without a timestamp or with
// a value that is not a number is data, not a crash: it goes to the dead-letter
// topic at once and the agent goes on.
func TestBadRecordsAreDeadLettered(t *testing.T) {
	c := config(window.Tumbling, 10, 0, 0, window.Sum)
	c.Value = func(t txn) float64 { return math.Sqrt(t.Amount) * math.Sqrt(t.Amount) } // NaN if negative
	g, _ := graph(t, c)
	h := topologytest.New(t, g, topologytest.Retries(3))
	topologytest.Consume(h, txns, "a", txn{Amount: 1}) // the zero time: before the epoch
	topologytest.Consume(h, txns, "a", txn{Amount: -1}, topologytest.WithTime(time.UnixMilli(5)))
	topologytest.ConsumeRaw(h, txns.Name, "a", []byte(`{"amount":"NaN"}`), topologytest.WithTime(time.UnixMilli(5)))
	got := feed(h, []in{{"a", 5, 4}})
	if want := []string{"a [0,10) sum=4 n=1 sum=4 min=4 max=4 @5"}; !slices.Equal(got, want) {
		t.Errorf("emitted %q, want %q", got, want)
	}
	dl := topologytest.DeadLetters(h, "agg")
	if len(dl) != 3 {
		t.Fatalf("dead letters = %d, want 3", len(dl))
	}
	for i, want := range []string{window.ErrNoTimestamp.Error(), window.ErrBadValue.Error(), "decode"} {
		if d := dl[i]; !strings.Contains(d.Err, want) || d.Attempts != 1 {
			t.Errorf("dead letter %d: error %q after %d attempts, want %q after 1", i, d.Err, d.Attempts, want)
		}
	}
}

// TestStateStaysBounded pins expiry: after a long stream the state of a key
// holds only what its open windows need.
func TestStateStaysBounded(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		c                     window.Config[txn]
		maxWindows, maxEvents int
	}{
		// Windows open at stream time T: those ending after T-grace.
		{"tumbling", config(window.Tumbling, 10, 0, 20, window.Sum), 4, 0},
		{"hopping", config(window.Hopping, 10, 2, 20, window.Sum), 16, 0},
		// Events of the last size+grace = 30 ms, one per ms.
		{"sliding", config(window.Sliding, 10, 0, 20, window.Sum), 0, 31},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, a := graph(t, tc.c)
			h := topologytest.New(t, g)
			for ms := range int64(1000) {
				topologytest.Consume(h, txns, "a", txn{Amount: 1}, topologytest.WithTime(time.UnixMilli(ms)))
			}
			st, ok := topologytest.TableValue(h, a.Table(), "a")
			if !ok {
				t.Fatal("no state for a")
			}
			if len(st.Windows) > tc.maxWindows || len(st.Events) > tc.maxEvents {
				t.Errorf("state holds %d windows and %d events, want at most %d and %d",
					len(st.Windows), len(st.Events), tc.maxWindows, tc.maxEvents)
			}
			if st.StreamTime != 999 {
				t.Errorf("stream time = %d, want 999", st.StreamTime)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	c := config(window.Hopping, 10, 5, 0, window.Count)
	c.EmitFinal = true
	c.Metrics = new(window.Metrics)
	g, _ := graph(t, c)
	h := topologytest.New(t, g)
	feed(h, []in{{"a", 2, 1}, {"a", 12, 1}, {"a", 8, 1}, {"a", 1, 1}})
	m := c.Metrics
	if m.Records() != 3 || m.Late() != 2 || m.Updates() != 5 || m.Finals() != 2 {
		t.Errorf("metrics = %s, want 3 records, 2 late, 5 updates, 2 finals", m)
	}
	if got, want := m.String(), `{"records":3,"late":2,"updates":5,"finals":2}`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestAggregationText(t *testing.T) {
	for a := window.Count; a <= window.Max; a++ {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", a, err)
		}
		var back window.Aggregation
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Errorf("UnmarshalText(%q) = %v, %v, want %v", b, back, err, a)
		}
	}
	var a window.Aggregation
	if err := a.UnmarshalText([]byte("median")); err == nil {
		t.Error("UnmarshalText(median) succeeded, want an error")
	}
}
