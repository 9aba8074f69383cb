package inference_test

import (
	"context"
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

// TestOnBroker runs the feature store and two inference agents, one per
// missing-features policy, on the embedded broker: updates -> the store's
// table -> requests joined with it -> predictions, or the dead-letter topic.
// The scorers start once the table holds the features, so their joined copy
// of it is recovered before they read a request.
func TestOnBroker(t *testing.T) {
	m := loadFraud(t)
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		t.Fatal(err)
	}
	flagged := topology.Stream[inference.Prediction]{Name: "predictions-flag", Codec: topology.JSON[inference.Prediction]()}
	strict := topology.Stream[inference.Prediction]{Name: "predictions-strict", Codec: topology.JSON[inference.Prediction]()}
	flagger, err := inference.New(inference.Config{Name: "scorer-flag", Requests: requests, Features: store.Table(), Out: flagged, Model: m})
	if err != nil {
		t.Fatal(err)
	}
	strictScorer, err := inference.New(inference.Config{Name: "scorer-strict", Requests: requests, Features: store.Table(), Out: strict, Model: m, Missing: inference.DeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	g := &topology.Graph{
		Name:    "inference",
		Sources: []topology.Topic{updates, requests},
		Sinks:   []topology.Topic{flagged, strict},
		Agents:  []topology.AgentDecl{store, flagger, strictScorer},
	}
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}

	partial := map[string]float64{"clicks_5m": 3, "avg_txn_value_1h": 20}
	var recs []*kgo.Record
	for entity, fs := range map[string]map[string]float64{"full": full, "partial": partial} {
		for name, v := range fs {
			recs = append(recs, record(t, updates, entity, featurestore.Update{Name: name, Value: v, AsOf: t0}))
		}
	}
	kafkatest.Produce(t, addrs, updates.Name, recs...)
	running(t, g, append(opts, topology.Agents("features"))...)
	view, err := topology.NewView(store.Table(), topology.Brokers(addrs...), topology.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Run(ctx) }()
	kafkatest.WaitFor(t, time.Minute, func() bool {
		a, _, _ := view.Get("full")
		p, _, _ := view.Get("partial")
		return len(a.Features) == len(full) && len(p.Features) == len(partial)
	})
	cancel()
	if err := <-viewDone; err != nil {
		t.Fatalf("View.Run = %v", err)
	}

	sent := time.Now().Truncate(time.Millisecond)
	var reqs []*kgo.Record
	for _, entity := range []string{"full", "partial", "unknown"} {
		r := record(t, requests, entity, inference.Request{ID: "r-" + entity, Payload: []byte(`{"amount":12.5}`)})
		r.Timestamp = sent
		reqs = append(reqs, r)
	}
	kafkatest.Produce(t, addrs, requests.Name, reqs...)
	running(t, g, append(opts, topology.Agents("scorer-flag", "scorer-strict"))...)

	byEntity := map[string]inference.Prediction{}
	for _, r := range kafkatest.ConsumeN(t, addrs, flagged.Name, 3) {
		p, err := flagged.Codec.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		byEntity[string(r.Key)] = p
	}
	wantMissing := map[string][]string{
		"full":    nil,
		"partial": {"txn_count_1h", "max_txn_value_24h"},
		"unknown": m.Features(),
	}
	for entity, missing := range wantMissing {
		p, ok := byEntity[entity]
		switch {
		case !ok:
			t.Errorf("no prediction for %s", entity)
		case p.RequestID != "r-"+entity || p.Flagged != (missing != nil) || !slices.Equal(p.Missing, missing):
			t.Errorf("prediction for %s: %+v, want request r-%s flagged %t missing %v", entity, p, entity, missing != nil, missing)
		case !p.RequestedAt.Equal(sent) || p.PredictedAt.Before(sent):
			t.Errorf("prediction for %s: requested at %v, predicted at %v, want %v and later", entity, p.RequestedAt, p.PredictedAt, sent)
		}
	}
	if p := byEntity["full"]; !maps(p.Features, full) {
		t.Errorf("features of full: %v, want %v", p.Features, full)
	} else if want, _ := m.Predict([]float64{full["clicks_5m"], full["txn_count_1h"], full["avg_txn_value_1h"], full["max_txn_value_24h"]}); p.Score != want {
		t.Errorf("score of full %v, want %v", p.Score, want)
	}

	// The strict scorer predicts for full only and dead-letters the others.
	if got := kafkatest.ConsumeN(t, addrs, strict.Name, 1); string(got[0].Key) != "full" {
		t.Errorf("strict prediction for %q, want full", got[0].Key)
	}
	dead := map[string]string{}
	for _, r := range kafkatest.ConsumeN(t, addrs, topology.DeadLetterName("scorer-strict"), 2) {
		for _, h := range r.Headers {
			if h.Key == topology.HeaderError {
				dead[string(r.Key)] = string(h.Value)
			}
		}
	}
	for _, entity := range []string{"partial", "unknown"} {
		if !strings.Contains(dead[entity], "missing features") || !strings.Contains(dead[entity], strings.Join(wantMissing[entity], ", ")) {
			t.Errorf("dead letter of %s says %q, want the missing features %v", entity, dead[entity], wantMissing[entity])
		}
	}
	if rest := kafkatest.ConsumeAll(t, addrs, strict.Name); len(rest) != 1 {
		t.Errorf("%d strict predictions, want 1", len(rest))
	}
}

// record encodes v with s.Codec as a record keyed by key.
func record[T any](t *testing.T, s topology.Stream[T], key string, v T) *kgo.Record {
	t.Helper()
	b, err := s.Codec.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(key), Value: b}
}

// running runs g until the test ends, failing it if Run returns an error.
func running(t *testing.T, g *topology.Graph, opts ...topology.Option) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- topology.Run(ctx, g, opts...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
}
