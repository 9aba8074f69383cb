package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
)

// history is the clicks and transactions of one user, by event time.
type history struct {
	clicks []time.Time
	txns   []timedTxn
}

type timedTxn struct {
	at     time.Time
	amount float64
}

// want returns the features of h as of its latest events, recomputed by brute
// force from their definitions: the events in the window (t - size, t] before
// the user's latest click or transaction t.
func (h history) want() map[string]float64 {
	lastClick := slices.MaxFunc(h.clicks, time.Time.Compare)
	lastTxn := slices.MaxFunc(h.txns, func(a, b timedTxn) int { return a.at.Compare(b.at) }).at
	in := func(ts, last time.Time, size time.Duration) bool { return ts.After(last.Add(-size)) && !ts.After(last) }
	f := map[string]float64{}
	for _, c := range h.clicks {
		if in(c, lastClick, 5*time.Minute) {
			f[FeatureClicks5m]++
		}
	}
	var sum float64
	for _, t := range h.txns {
		if in(t.at, lastTxn, time.Hour) {
			f[FeatureTxnCount1h]++
			sum += t.amount
		}
		if in(t.at, lastTxn, 24*time.Hour) {
			f[FeatureMaxTxn24h] = max(f[FeatureMaxTxn24h], t.amount)
		}
	}
	f[FeatureAvgTxn1h] = sum / f[FeatureTxnCount1h]
	return f
}

// sessionClicks returns the clicks of h's last session, by brute force: its
// clicks in time order, split where two are sessionGap or more apart.
func (h history) sessionClicks() float64 {
	cs := slices.Clone(h.clicks)
	slices.SortFunc(cs, time.Time.Compare)
	n := 1
	for i := len(cs) - 1; i > 0 && cs[i].Sub(cs[i-1]) < sessionGap; i-- {
		n++
	}
	return float64(n)
}

// latest returns the times the features of h are as of: its latest click and
// latest transaction.
func (h history) latest() (click, txn time.Time) {
	click = slices.MaxFunc(h.clicks, time.Time.Compare)
	txn = slices.MaxFunc(h.txns, func(a, b timedTxn) int { return a.at.Compare(b.at) }).at
	return click, txn
}

// histories returns the test input: ann's, written by hand, and random ones
// spread over 30 hours, for users u1..u7.
func histories(now time.Time) map[string]history {
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	hs := map[string]history{
		// Three clicks within 5 minutes of her last one, one before; two
		// transactions in the last hour, a larger one 2 hours ago (the 24-hour
		// maximum) and a still larger one 25 hours ago (too old for it).
		"ann": {
			// A session two hours ago (closed: its final result sets
			// session_clicks to 0 as of its end), then a session of four.
			clicks: []time.Time{ago(2 * time.Hour), ago(10 * time.Minute), ago(4 * time.Minute), ago(2 * time.Minute), ago(time.Minute)},
			txns: []timedTxn{
				{ago(25 * time.Hour), 5000}, {ago(2 * time.Hour), 900},
				{ago(50 * time.Minute), 40}, {ago(10 * time.Minute), 60},
			},
		},
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i := 1; i <= 7; i++ {
		var h history
		span := time.Duration(1+r.IntN(20)) * time.Minute // some users click over more than 5 minutes
		for range 2 + r.IntN(25) {
			h.clicks = append(h.clicks, ago(time.Duration(r.Int64N(int64(span))).Truncate(time.Millisecond)))
		}
		for range 1 + r.IntN(30) {
			at := ago(time.Duration(r.Int64N(int64(30 * time.Hour))).Truncate(time.Millisecond))
			h.txns = append(h.txns, timedTxn{at, cents(1 + r.Float64()*2000)})
		}
		hs[fmt.Sprintf("u%d", i)] = h
	}
	return hs
}

// records returns the records of the events in order of time, except that
// some neighbours less than 30 s apart (within the windows' grace of a minute)
// trade places, so that some arrive out of order but none late.
func records[T any](t *testing.T, user string, times []time.Time, value func(i int) T, r *rand.Rand) []*kgo.Record {
	idx := make([]int, len(times))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return times[a].Compare(times[b]) })
	for i := 0; i+1 < len(idx); i++ {
		if times[idx[i+1]].Sub(times[idx[i]]) < 30*time.Second && r.IntN(2) == 0 {
			idx[i], idx[i+1] = idx[i+1], idx[i]
			i++ // a record moves back one place at most: it stays within grace
		}
	}
	var recs []*kgo.Record
	for _, i := range idx {
		b, err := json.Marshal(value(i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Key: []byte(user), Value: b, Timestamp: times[i]})
	}
	return recs
}

// TestFeaturesMatchBruteForce writes clicks and transactions with known event
// times to the graph on a broker, waits until the feature store holds every
// user's features as of their latest events, sends a payment request per user,
// and checks that each gets exactly one prediction whose features equal a
// brute-force recomputation, scored by the model.
func TestFeaturesMatchBruteForce(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	m, err := loadModel("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Graph(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- topology.Run(ctx, g, topology.Brokers(addrs...), topology.DataDir(t.TempDir()),
			topology.OnProvisioned(func([]string) { close(ready) }))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-ready: // the topics exist
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}

	now := time.Now().Truncate(time.Millisecond)
	hs := histories(now)
	r := rand.New(rand.NewPCG(3, 4))
	var clicks, txns []*kgo.Record
	for user, h := range hs {
		clicks = append(clicks, records(t, user, h.clicks, func(int) Click { return Click{User: user, Page: "/"} }, r)...)
		times := make([]time.Time, len(h.txns))
		for i, tx := range h.txns {
			times[i] = tx.at
		}
		txns = append(txns, records(t, user, times, func(i int) Txn {
			return Txn{ID: fmt.Sprintf("%s-%d", user, i), User: user, Amount: h.txns[i].amount, Merchant: "shop"}
		}, r)...)
	}
	kafkatest.Produce(t, addrs, Clicks.Name, clicks...)
	kafkatest.Produce(t, addrs, Txns.Name, txns...)

	// Wait, through the lookup service, until every user's features are as of
	// their latest events: then the store has taken in every window result.
	view, err := topology.NewView(FeatureTable, topology.Brokers(addrs...), topology.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	vctx, vcancel := context.WithCancel(t.Context())
	vdone := make(chan error, 1)
	go func() { vdone <- view.Run(vctx) }()
	defer func() {
		vcancel()
		if err := <-vdone; err != nil {
			t.Errorf("view: %v", err)
		}
	}()
	lookup := featurestore.Handler(view)
	caughtUp := func(user string) bool {
		rec := httptest.NewRecorder()
		lookup.ServeHTTP(rec, httptest.NewRequest("GET", "/features/"+user, nil))
		if rec.Code != 200 {
			return false
		}
		var resp featurestore.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("GET /features/%s: %v: %s", user, err, rec.Body)
		}
		click, txn := hs[user].latest()
		asOf := map[string]time.Time{FeatureClicks5m: click, FeatureTxnCount1h: txn, FeatureAvgTxn1h: txn, FeatureMaxTxn24h: txn,
			FeatureSessionClicks: click}
		for name, at := range asOf {
			if f, ok := resp.Features[name]; !ok || !f.AsOf.Equal(at) {
				return false
			}
		}
		if f := resp.Features[FeatureSessionClicks]; f.Value != hs[user].sessionClicks() {
			t.Errorf("%s: session_clicks %v, want %v", user, f.Value, hs[user].sessionClicks())
		}
		return true
	}
	kafkatest.WaitFor(t, 2*time.Minute, func() bool {
		for user := range hs {
			if !caughtUp(user) {
				return false
			}
		}
		return true
	})

	// The scorer reads the features through a lookup of its own, which may
	// trail the view above by a moment: once, at load 22, its copy still
	// lacked u1's max_txn_value_24h when the first request came. So ask
	// again, with a new request ID, until a user's prediction carries the
	// brute-force features; that prediction's score must then be the
	// model's for them, and a scorer that never catches up fails the test.
	em, err := topology.NewEmitter(Requests, topology.Brokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	got := map[string]inference.Prediction{} // each user's first prediction on the brute-force features
	last := map[string]inference.Prediction{}
	sent := 0
	deadline := time.Now().Add(time.Minute)
	for round := 0; len(got) < len(hs); round++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d rounds of requests, the scorer's features still differ from the brute force: %v", round, last)
		}
		ids := map[string]string{}
		for user := range hs {
			if _, ok := got[user]; ok {
				continue
			}
			ids[user] = fmt.Sprintf("req-%s-%d", user, round)
			if err := em.Write(t.Context(), user, inference.Request{ID: ids[user], Entity: user}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		seen := map[string]bool{}
		for _, rec := range kafkatest.ConsumeN(t, addrs, Predictions.Name, sent) {
			var p inference.Prediction
			if err := json.Unmarshal(rec.Value, &p); err != nil {
				t.Fatal(err)
			}
			if seen[p.RequestID] {
				t.Errorf("two predictions for request %s", p.RequestID)
			}
			seen[p.RequestID] = true
			if id, ok := ids[p.Entity]; !ok || p.RequestID != id {
				continue // an earlier round's
			}
			last[p.Entity] = p
			if sameFeatures(p.Features, hs[p.Entity].want()) {
				got[p.Entity] = p
			}
		}
	}
	for user, h := range hs {
		p := got[user]
		want := h.want()
		x := make([]float64, 0, 4)
		for _, name := range m.Features() {
			x = append(x, want[name])
		}
		if score, _ := m.Predict(x); math.Abs(score-p.Score) > 1e-9 {
			t.Errorf("score for %s = %v, want %v", user, p.Score, score)
		}
		if p.Flagged {
			t.Errorf("prediction for %s flagged (score %v), want not", user, p.Score)
		}
	}
	if s := hs["ann"].sessionClicks(); s != 4 {
		t.Errorf("ann's brute-force session_clicks %v, want 4", s)
	}
	if p := got["ann"]; p.Features[FeatureClicks5m] != 3 || p.Features[FeatureTxnCount1h] != 2 ||
		p.Features[FeatureAvgTxn1h] != 50 || p.Features[FeatureMaxTxn24h] != 900 {
		t.Errorf("ann's features %v, want clicks_5m 3, txn_count_1h 2, avg_txn_value_1h 50, max_txn_value_24h 900", p.Features)
	}
	var sb strings.Builder
	for user, p := range got {
		fmt.Fprintf(&sb, "  %s %v score %.3f\n", user, p.Features, p.Score)
	}
	t.Logf("predictions:\n%s", sb.String())
}

// sameFeatures reports whether got and want have the same features with values
// equal up to rounding (sums may add in another order).
func sameFeatures(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > 1e-9*max(1, math.Abs(w)) {
			return false
		}
	}
	return true
}
