package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/processors/inference"
)

func TestQuantile(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ds(7), 0.99, 7 * time.Millisecond},
		{"median of 4", ds(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100", ds(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 100", ds(hundred...), 0.5, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// TestTally pins how predictions count: once per request this run sent,
// duplicates and others apart, and done only once sealed and all scored.
func TestTally(t *testing.T) {
	tl := NewTally()
	t0 := time.Now()
	req := func(id string, fraud bool) Event {
		return Event{User: "u", Fraud: fraud, Request: &inference.Request{ID: id}}
	}
	tl.Sent(req("a", false), t0)
	tl.Sent(req("b", true), t0)
	tl.Scored(inference.Prediction{RequestID: "a", Score: 0.02}, t0.Add(10*time.Millisecond))
	tl.Scored(inference.Prediction{RequestID: "a", Score: 0.02}, t0.Add(20*time.Millisecond)) // a replay
	tl.Scored(inference.Prediction{RequestID: "old", Score: 0.5}, t0)                         // an earlier run's
	if s := tl.Stats(); s.Done || s.Scored != 1 || s.Duplicates != 1 || s.Others != 1 {
		t.Fatalf("stats %+v: want 1 scored, 1 duplicate, 1 other, not done", s)
	}
	tl.Seal()
	if s := tl.Stats(); s.Done || tl.Done() {
		t.Fatal("done with b unscored")
	}
	tl.Scored(inference.Prediction{RequestID: "b", Score: 1, Flagged: true}, t0.Add(30*time.Millisecond))
	s := tl.Stats()
	if !s.Done || !tl.Done() || s.Flagged != 1 || s.Hist[0] != 1 || s.Hist[buckets-1] != 1 || s.Fraud.High != 1 || s.Normal.N != 1 {
		t.Fatalf("stats %+v: want done, 1 flagged, one score in the first bucket and one (1.0) in the last", s)
	}
	if s.P50 != 10*time.Millisecond || s.Max != 30*time.Millisecond {
		t.Errorf("latency p50 %v max %v, want 10ms and 30ms", s.P50, s.Max)
	}
	if p := s.Progress(); !strings.Contains(p, "scored 2 (flagged 1) | scores <0.1 1, <0.5 0, <0.9 0, >=0.9 1 |") {
		t.Errorf("progress %q", p)
	}
	var b strings.Builder
	s.WriteSummary(&b)
	if !strings.Contains(b.String(), "summary: 2 requests sent, 2 scored, 0 missing, 1 duplicates, 1 flagged") {
		t.Errorf("summary:\n%s", b.String())
	}
}
