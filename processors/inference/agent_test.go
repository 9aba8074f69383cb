package inference_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

var (
	updates     = topology.Stream[featurestore.Update]{Name: "feature-updates", Codec: topology.JSON[featurestore.Update]()}
	requests    = topology.Stream[inference.Request]{Name: "inference-requests", Codec: topology.JSON[inference.Request]()}
	predictions = topology.Stream[inference.Prediction]{Name: "predictions", Codec: topology.JSON[inference.Prediction]()}
	t0          = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
)

// loadFraud loads the test logistic model.
func loadFraud(t testing.TB) inference.Model {
	t.Helper()
	m, err := inference.LoadLogistic(filepath.Join("testdata", "logistic", "fraud.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// graph returns a feature store and an inference agent scoring with m under
// policy p: the requests, the store's updates and the predictions are the
// graph's sources and sink.
func graph(t testing.TB, m inference.Model, p inference.MissingPolicy) *topology.Graph {
	t.Helper()
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := inference.New(inference.Config{
		Name: "scorer", Requests: requests, Features: store.Table(), Out: predictions, Model: m, Missing: p,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &topology.Graph{
		Name:    "inference",
		Sources: []topology.Topic{updates, requests},
		Sinks:   []topology.Topic{predictions},
		Agents:  []topology.AgentDecl{store, scorer},
	}
}

// setFeatures feeds the store one update per feature of entity.
func setFeatures(h *topologytest.Harness, entity string, fs map[string]float64) {
	for name, v := range fs {
		topologytest.Consume(h, updates, entity, featurestore.Update{Name: name, Value: v, AsOf: t0}, topologytest.WithTime(t0))
	}
}

var full = map[string]float64{"clicks_5m": 10, "txn_count_1h": 2, "avg_txn_value_1h": 50, "max_txn_value_24h": 500}

func TestScoresWithFeatures(t *testing.T) {
	m := loadFraud(t)
	h := topologytest.New(t, graph(t, m, inference.Flag))
	setFeatures(h, "u1", full)
	at := t0.Add(time.Minute)
	topologytest.Consume(h, requests, "u1", inference.Request{ID: "r1", Entity: "u1"}, topologytest.WithTime(at))
	topologytest.Consume(h, requests, "u1", inference.Request{ID: "r2"}, topologytest.WithTime(at)) // Entity defaults to the key

	out := topologytest.Output(h, predictions)
	if len(out) != 2 {
		t.Fatalf("%d predictions, want 2: %+v", len(out), out)
	}
	want, _ := m.Predict([]float64{10, 2, 50, 500})
	for i, r := range out {
		p := r.Value
		if r.Key != "u1" || p.Entity != "u1" || p.RequestID != fmt.Sprintf("r%d", i+1) {
			t.Errorf("prediction %d: key %q, %+v, want request r%d of u1", i, r.Key, p, i+1)
		}
		if p.Score != want || p.Model != "fraud" || p.ModelVersion != "3" {
			t.Errorf("prediction %d: score %v by %s/%s, want %v by fraud/3", i, p.Score, p.Model, p.ModelVersion, want)
		}
		if !maps(p.Features, full) || p.Flagged || len(p.Missing) != 0 {
			t.Errorf("prediction %d: features %v, missing %v, flagged %t, want %v and not flagged", i, p.Features, p.Missing, p.Flagged, full)
		}
		if !p.RequestedAt.Equal(at) || p.PredictedAt.IsZero() {
			t.Errorf("prediction %d: requested at %v, predicted at %v, want %v and a time", i, p.RequestedAt, p.PredictedAt, at)
		}
	}
	if dl := topologytest.DeadLetters(h, "scorer"); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}

func maps(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMissingFeatures pins both policies for an entity with some features and
// for one the store has never seen.
func TestMissingFeatures(t *testing.T) {
	m := loadFraud(t)
	partial := map[string]float64{"clicks_5m": 10, "avg_txn_value_1h": 50}
	for _, tc := range []struct {
		entity      string
		wantMissing []string
	}{
		{"partial", []string{"txn_count_1h", "max_txn_value_24h"}},
		{"unknown", []string{"clicks_5m", "txn_count_1h", "avg_txn_value_1h", "max_txn_value_24h"}},
	} {
		t.Run("policy=flag/entity="+tc.entity, func(t *testing.T) {
			h := topologytest.New(t, graph(t, m, inference.Flag))
			setFeatures(h, "partial", partial)
			topologytest.Consume(h, requests, tc.entity, inference.Request{ID: "r"}, topologytest.WithTime(t0))
			out := topologytest.Output(h, predictions)
			if len(out) != 1 {
				t.Fatalf("%d predictions, want 1", len(out))
			}
			p := out[0].Value
			if !p.Flagged || !slices.Equal(p.Missing, tc.wantMissing) {
				t.Errorf("flagged %t, missing %v, want flagged and %v", p.Flagged, p.Missing, tc.wantMissing)
			}
			x := make([]float64, 4)
			for i, name := range m.Features() {
				v, ok := p.Features[name]
				if !ok {
					v = math.NaN()
				}
				x[i] = v
			}
			if want, _ := m.Predict(x); p.Score != want {
				t.Errorf("score %v, want %v (missing as NaN)", p.Score, want)
			}
			if tc.entity == "partial" && !maps(p.Features, partial) {
				t.Errorf("features %v, want %v", p.Features, partial)
			}
		})
		t.Run("policy=dead-letter/entity="+tc.entity, func(t *testing.T) {
			h := topologytest.New(t, graph(t, m, inference.DeadLetter), topologytest.Retries(3))
			setFeatures(h, "partial", partial)
			topologytest.Consume(h, requests, tc.entity, inference.Request{ID: "r"}, topologytest.WithTime(t0))
			if out := topologytest.Output(h, predictions); len(out) != 0 {
				t.Errorf("predictions %+v, want none", out)
			}
			dl := topologytest.DeadLetters(h, "scorer")
			if len(dl) != 1 || dl[0].Attempts != 1 || dl[0].Key != tc.entity {
				t.Fatalf("dead letters %+v, want the request after 1 attempt", dl)
			}
			want := "lacks " + strings.Join(tc.wantMissing, ", ")
			if !strings.Contains(dl[0].Err, want) || !strings.Contains(dl[0].Err, "missing features") {
				t.Errorf("reason %q, want it to say %q", dl[0].Err, want)
			}
		})
	}
}

// constModel scores every request with score, or fails with err.
type constModel struct {
	score float64
	err   error
}

func (constModel) Name() string       { return "const" }
func (constModel) Version() string    { return "1" }
func (constModel) Features() []string { return []string{"clicks_5m"} }
func (m constModel) Predict([]float64) (float64, error) {
	return m.score, m.err
}

// TestBadRequests pins what goes to the dead-letter topic at once, and why.
func TestBadRequests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     inference.Model
		key   string
		value string
		want  string
	}{
		{"entity is not the key", constModel{score: 0.5}, "u1", `{"request_id":"r","entity":"u2"}`, `entity "u2" under key "u1"`},
		{"undecodable", constModel{score: 0.5}, "u1", `{"request_id":`, "decode inference-requests"},
		{"model fails", constModel{err: errors.New("tensor on fire")}, "u1", `{"request_id":"r"}`, "tensor on fire"},
		{"score not finite", constModel{score: math.Inf(1)}, "u1", `{"request_id":"r"}`, "scored +Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := topologytest.New(t, graph(t, tc.m, inference.Flag), topologytest.Retries(3))
			setFeatures(h, "u1", map[string]float64{"clicks_5m": 1})
			topologytest.ConsumeRaw(h, requests.Name, tc.key, []byte(tc.value), topologytest.WithTime(t0))
			if out := topologytest.Output(h, predictions); len(out) != 0 {
				t.Errorf("predictions %+v, want none", out)
			}
			dl := topologytest.DeadLetters(h, "scorer")
			if len(dl) != 1 || dl[0].Attempts != 1 || !strings.Contains(dl[0].Err, tc.want) || string(dl[0].Value) != tc.value {
				t.Fatalf("dead letters %+v, want the request as sent after 1 attempt, saying %q", dl, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		t.Fatal(err)
	}
	valid := inference.Config{Name: "scorer", Requests: requests, Features: store.Table(), Out: predictions, Model: constModel{}}
	for _, tc := range []struct {
		name string
		edit func(c *inference.Config)
		want string
	}{
		{"no name", func(c *inference.Config) { c.Name = "" }, "Name is empty"},
		{"no requests", func(c *inference.Config) { c.Requests = topology.Stream[inference.Request]{} }, "Requests has no topic name"},
		{"requests without codec", func(c *inference.Config) { c.Requests.Codec = nil }, "has no codec"},
		{"no features", func(c *inference.Config) { c.Features = topology.Table[featurestore.Vector]{} }, "Features has no table name"},
		{"features without codec", func(c *inference.Config) { c.Features.Codec = nil }, "has no codec"},
		{"no out", func(c *inference.Config) { c.Out = topology.Stream[inference.Prediction]{} }, "Out has no topic name"},
		{"out without codec", func(c *inference.Config) { c.Out.Codec = nil }, "has no codec"},
		{"no model", func(c *inference.Config) { c.Model = nil }, "Model is nil"},
		{"bad policy", func(c *inference.Config) { c.Missing = 7 }, "MissingPolicy(7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.edit(&c)
			_, err := inference.New(c)
			if !errors.Is(err, inference.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
	if _, err := inference.New(valid); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
}

// TestNotCopartitioned pins that a graph whose feature table and requests
// differ in partitions is refused before anything runs.
func TestNotCopartitioned(t *testing.T) {
	reqs := requests
	reqs.Partitions = 3
	store, _ := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	scorer, err := inference.New(inference.Config{Name: "scorer", Requests: reqs, Features: store.Table(), Out: predictions, Model: constModel{}})
	if err != nil {
		t.Fatal(err)
	}
	g := &topology.Graph{Name: "inference", Sources: []topology.Topic{updates, reqs}, Sinks: []topology.Topic{predictions}, Agents: []topology.AgentDecl{store, scorer}}
	if err := g.Validate(); !errors.Is(err, topology.ErrCopartition) {
		t.Fatalf("Validate = %v, want ErrCopartition", err)
	}
}
