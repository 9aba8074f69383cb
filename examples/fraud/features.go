package main

import (
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology"
)

// The model's features, as the feature store names them.
const (
	// FeatureClicks5m is the number of the user's clicks in the 5 minutes up
	// to and including their latest click.
	FeatureClicks5m = "clicks_5m"
	// FeatureTxnCount1h is the number of the user's transactions in the hour
	// up to and including their latest transaction.
	FeatureTxnCount1h = "txn_count_1h"
	// FeatureAvgTxn1h is the mean amount of those transactions.
	FeatureAvgTxn1h = "avg_txn_value_1h"
	// FeatureMaxTxn24h is the largest amount of the user's transactions in the
	// 24 hours up to and including their latest transaction.
	FeatureMaxTxn24h = "max_txn_value_24h"
	// FeatureSessionClicks is the number of the user's clicks in their current
	// session: clicks less than 30 minutes apart (sessionGap) are one session.
	// It drops to 0 when the session ends, even if the user clicks no more:
	// the window agent closes a silent user's session by the wall clock.
	FeatureSessionClicks = "session_clicks"
)

// Window sizes of the features, and the grace every window gives records that
// arrive out of order.
const (
	clicksWindow = 5 * time.Minute
	txnWindow    = time.Hour
	maxWindow    = 24 * time.Hour
	grace        = time.Minute
	// sessionGap ends a session: 30 minutes without a click, as web
	// analytics count sessions. sessionIdle is how far behind the wall clock
	// a silent user's stream time follows, to close their session.
	sessionGap  = 30 * time.Minute
	sessionIdle = time.Minute
)

// features are the window agents computing the features, with their result
// streams.
type features struct {
	clicks, txns1h, txns24h  topology.Agent[window.State]
	sessions                 topology.Agent[window.State]
	clicksOut, txns1hOut     topology.Stream[window.Result]
	txns24hOut, sessionsOut  topology.Stream[window.Result]
	clicksLate, sessionsLate topology.Stream[window.LateRecord[Click]]
	txns1hLate, txns24hLate  topology.Stream[window.LateRecord[Txn]]
}

// results returns the stream of an agent's window results.
func results(agent string) topology.Stream[window.Result] {
	return topology.Stream[window.Result]{Name: agent + "-results", Codec: topology.JSON[window.Result]()}
}

// late returns the stream of an agent's late records.
func late[T any](agent string) topology.Stream[window.LateRecord[T]] {
	return topology.Stream[window.LateRecord[T]]{Name: agent + "-late", Codec: topology.JSON[window.LateRecord[T]]()}
}

// newFeatures declares the window agents. Each is a sliding window ending at
// the user's latest event ("the last hour as of this transaction"), on event
// time: the record timestamp, which the generator's emitters set to the time
// they write.
func newFeatures() (*features, error) {
	f := &features{
		clicksOut: results(clicksAgent), txns1hOut: results(txns1hAgent), txns24hOut: results(txns24hAgent),
		clicksLate: late[Click](clicksAgent), txns1hLate: late[Txn](txns1hAgent), txns24hLate: late[Txn](txns24hAgent),
		sessionsOut: results(sessionsAgent), sessionsLate: late[Click](sessionsAgent),
	}
	amount := func(t Txn) float64 { return t.Amount }
	var err error
	if f.clicks, err = window.New(window.Config[Click]{
		Name: clicksAgent, Input: Clicks, Kind: window.Sliding, Size: clicksWindow, Grace: grace,
		Aggregation: window.Count, Output: f.clicksOut, Late: f.clicksLate,
	}); err != nil {
		return nil, err
	}
	// One window agent gives both hour features: every Result carries the count.
	if f.txns1h, err = window.New(window.Config[Txn]{
		Name: txns1hAgent, Input: Txns, Value: amount, Kind: window.Sliding, Size: txnWindow, Grace: grace,
		Aggregation: window.Avg, Output: f.txns1hOut, Late: f.txns1hLate,
	}); err != nil {
		return nil, err
	}
	if f.txns24h, err = window.New(window.Config[Txn]{
		Name: txns24hAgent, Input: Txns, Value: amount, Kind: window.Sliding, Size: maxWindow, Grace: grace,
		Aggregation: window.Max, Output: f.txns24hOut, Late: f.txns24hLate,
	}); err != nil {
		return nil, err
	}
	// Sessions close by the user's next click, or, for a user who stops, by
	// the wall clock (Idle), when they emit their final result.
	if f.sessions, err = window.New(window.Config[Click]{
		Name: sessionsAgent, Input: Clicks, Kind: window.Session, Gap: sessionGap, Grace: grace, Idle: sessionIdle,
		Aggregation: window.Count, EmitFinal: true, Output: f.sessionsOut, Late: f.sessionsLate,
	}); err != nil {
		return nil, err
	}
	return f, nil
}

// agents returns the window agents.
func (f *features) agents() []topology.AgentDecl {
	return []topology.AgentDecl{f.clicks, f.txns1h, f.txns24h, f.sessions}
}

// lates returns the late-record streams: sinks of the graph, so that a late
// record is kept where anyone can read it.
func (f *features) lates() []topology.Topic {
	return []topology.Topic{f.clicksLate, f.txns1hLate, f.txns24hLate, f.sessionsLate}
}

// inputs returns the feature store's inputs: the window results, each turned
// into the updates of its features.
func (f *features) inputs() []topology.Input[featurestore.Vector] {
	return []topology.Input[featurestore.Vector]{
		featurestore.From(f.clicksOut, updates(func(r window.Result) []featurestore.Update {
			return []featurestore.Update{{Name: FeatureClicks5m, Value: float64(r.Count)}}
		})),
		featurestore.From(f.txns1hOut, updates(func(r window.Result) []featurestore.Update {
			return []featurestore.Update{
				{Name: FeatureTxnCount1h, Value: float64(r.Count)},
				{Name: FeatureAvgTxn1h, Value: r.Avg()},
			}
		})),
		featurestore.From(f.txns24hOut, updates(func(r window.Result) []featurestore.Update {
			return []featurestore.Update{{Name: FeatureMaxTxn24h, Value: r.Max}}
		})),
		featurestore.From(f.sessionsOut, sessionUpdates),
	}
}

// sessionUpdates converts a session's result: its clicks as of its last one
// while it is open, and 0 once it closed (its final result), as of the moment
// it ended: its last click plus the gap, after every update of it and before
// any click of the next session.
func sessionUpdates(user string, r window.Result, _ time.Time) []featurestore.Update {
	last := r.End.Add(-time.Millisecond)
	if r.Final {
		return []featurestore.Update{{Entity: user, Name: FeatureSessionClicks, Value: 0, AsOf: last.Add(sessionGap - time.Millisecond)}}
	}
	return []featurestore.Update{{Entity: user, Name: FeatureSessionClicks, Value: float64(r.Count), AsOf: last}}
}

// updates returns the feature store's conversion of a window result with fn.
// Each update is as of the window's last instant: the time of the latest event
// in it (a sliding window ending at event time t is [t+1ms-size, t+1ms)). Not
// the result's stream time: a late record re-emits the open windows of later
// events that contain it, all with the same stream time, and the last of them
// need not be the latest window. As of their own ends, the store keeps the
// latest window's value whatever the order results arrive in.
func updates(fn func(window.Result) []featurestore.Update) func(string, window.Result, time.Time) []featurestore.Update {
	return func(user string, r window.Result, _ time.Time) []featurestore.Update {
		us := fn(r)
		asOf := r.End.Add(-time.Millisecond)
		for i := range us {
			us[i].Entity = user
			us[i].AsOf = asOf
		}
		return us
	}
}
