package window

import (
	"time"
)

// Result is the aggregate of one window of one key, emitted to [Config.Output]
// under the key.
type Result struct {
	// Start and End bound the window: it holds the records with Start <=
	// timestamp < End.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Aggregation names the aggregate Value holds.
	Aggregation Aggregation `json:"aggregation"`
	// Value is the configured aggregate: a copy of one of the fields below.
	Value float64 `json:"value"`
	// Count is the number of records in the window; Sum, Min and Max aggregate
	// their values (Min and Max are those of the first record when Count is 1).
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	// Final is set on the one result emitted when the window closes (see
	// [Config.EmitFinal]); no later result for the window follows.
	Final bool `json:"final,omitempty"`
	// StreamTime is the key's stream time when the result was computed: the
	// time the aggregate is as of.
	StreamTime time.Time `json:"stream_time"`
}

// Avg returns Sum / Count, 0 for an empty window.
func (r Result) Avg() float64 {
	if r.Count == 0 {
		return 0
	}
	return r.Sum / float64(r.Count)
}

// result turns the aggregate of the window [start, end) into a Result.
func (s spec) result(a Aggregate, start, end, streamTime int64, final bool) Result {
	r := Result{
		Start:       millis(start),
		End:         millis(end),
		Aggregation: s.agg,
		Count:       a.Count,
		Sum:         a.Sum,
		Min:         a.Min,
		Max:         a.Max,
		Final:       final,
		StreamTime:  millis(streamTime),
	}
	switch s.agg {
	case Count:
		r.Value = float64(a.Count)
	case Sum:
		r.Value = a.Sum
	case Avg:
		r.Value = r.Avg()
	case Min:
		r.Value = a.Min
	case Max:
		r.Value = a.Max
	}
	return r
}

// LateRecord is a record that arrived after the first window containing it
// had closed, as sent to [Config.Late]. The record still counts in whichever of
// its windows were open (hopping and sliding windows overlap); Late says that at
// least one window missed it.
type LateRecord[In any] struct {
	// Value is the record's value.
	Value In `json:"value"`
	// Time is the record's timestamp.
	Time time.Time `json:"time"`
	// StreamTime is the key's stream time when the record arrived.
	StreamTime time.Time `json:"stream_time"`
}
