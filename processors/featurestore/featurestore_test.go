package featurestore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

var updates = topology.Stream[featurestore.Update]{Name: "feature-updates", Codec: topology.JSON[featurestore.Update]()}

// t0 is the time the tests' features are computed around.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func storeGraph(t testing.TB, c featurestore.Config, sources ...topology.Topic) (*topology.Graph, topology.Agent[featurestore.Vector]) {
	t.Helper()
	a, err := featurestore.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &topology.Graph{Name: "features", Sources: sources, Agents: []topology.AgentDecl{a}}, a
}

func TestStoreMerges(t *testing.T) {
	g, store := storeGraph(t, featurestore.Config{Name: "features", Updates: updates}, updates)
	h := topologytest.New(t, g)
	send := func(key string, u featurestore.Update) {
		topologytest.Consume(h, updates, key, u, topologytest.WithTime(t0.Add(time.Hour)))
	}
	send("u1", featurestore.Update{Entity: "u1", Name: "clicks_5m", Value: 3, AsOf: t0})
	send("u1", featurestore.Update{Name: "txn_count_1h", Value: 1, AsOf: t0}) // Entity defaults to the key
	send("u1", featurestore.Update{Name: "clicks_5m", Value: 4, AsOf: t0.Add(time.Second)})
	send("u1", featurestore.Update{Name: "clicks_5m", Value: 2, AsOf: t0})    // stale: out of order
	send("u1", featurestore.Update{Name: "txn_count_1h", Value: 2, AsOf: t0}) // same time: later wins
	send("u1", featurestore.Update{Name: "max_txn_24h", Value: 9.5})          // no as_of: the record's time
	send("u2", featurestore.Update{Name: "clicks_5m", Value: 1, AsOf: t0})

	want := map[string]map[string]featurestore.Feature{
		"u1": {
			"clicks_5m":    {Value: 4, AsOf: t0.Add(time.Second)},
			"txn_count_1h": {Value: 2, AsOf: t0},
			"max_txn_24h":  {Value: 9.5, AsOf: t0.Add(time.Hour)},
		},
		"u2": {"clicks_5m": {Value: 1, AsOf: t0}},
	}
	for entity, fs := range want {
		v, ok := topologytest.TableValue(h, store.Table(), entity)
		if !ok {
			t.Fatalf("no vector for %s", entity)
		}
		if len(v.Features) != len(fs) {
			t.Errorf("%s has %d features, want %d: %v", entity, len(v.Features), len(fs), v.Features)
		}
		for name, f := range fs {
			if got := v.Features[name]; got.Value != f.Value || !got.AsOf.Equal(f.AsOf) {
				t.Errorf("%s.%s = %v, want %v", entity, name, got, f)
			}
		}
	}
	if dl := topologytest.DeadLetters(h, "features"); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}

func TestStoreRejectsBadUpdates(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		u    featurestore.Update
		want string
	}{
		{"no name", "u1", featurestore.Update{Value: 1}, "has no name"},
		{"other entity", "u1", featurestore.Update{Entity: "u2", Name: "f", Value: 1}, `entity "u2" under key "u1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, store := storeGraph(t, featurestore.Config{Name: "features", Updates: updates}, updates)
			h := topologytest.New(t, g, topologytest.Retries(3))
			topologytest.Consume(h, updates, tc.key, tc.u, topologytest.WithTime(t0))
			dl := topologytest.DeadLetters(h, "features")
			if len(dl) != 1 || !strings.Contains(dl[0].Err, tc.want) || dl[0].Attempts != 1 {
				t.Fatalf("dead letters = %+v, want one after 1 attempt saying %q", dl, tc.want)
			}
			if v, ok := topologytest.TableValue(h, store.Table(), tc.key); ok {
				t.Errorf("vector of %s = %v, want none", tc.key, v)
			}
		})
	}
}

// TestFrom feeds the store from a stream of another type: a windowed count
// turned into a feature.
func TestFrom(t *testing.T) {
	counts := topology.Stream[int64]{Name: "clicks-5m", Codec: topology.Int64()}
	in := featurestore.From(counts, func(user string, n int64, ts time.Time) []featurestore.Update {
		if n < 0 {
			return []featurestore.Update{{Name: "clicks_5m", Value: math.NaN()}} // rejected
		}
		return []featurestore.Update{{Name: "clicks_5m", Value: float64(n)}}
	})
	g, store := storeGraph(t, featurestore.Config{Name: "features", Inputs: []topology.Input[featurestore.Vector]{in}}, counts)
	h := topologytest.New(t, g)
	topologytest.Consume(h, counts, "u1", 7, topologytest.WithTime(t0))
	topologytest.Consume(h, counts, "u1", -1, topologytest.WithTime(t0.Add(time.Second)))
	v, _ := topologytest.TableValue(h, store.Table(), "u1")
	if got := v.Features["clicks_5m"]; got.Value != 7 || !got.AsOf.Equal(t0) {
		t.Errorf("clicks_5m = %v, want 7 as of %v", got, t0)
	}
	if dl := topologytest.DeadLetters(h, "features"); len(dl) != 1 || !strings.Contains(dl[0].Err, "NaN") {
		t.Errorf("dead letters = %+v, want the NaN update", dl)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    featurestore.Config
	}{
		{"no name", featurestore.Config{Updates: updates}},
		{"no input", featurestore.Config{Name: "features"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := featurestore.New(tc.c); !errors.Is(err, featurestore.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}

func TestVectorApply(t *testing.T) {
	var v featurestore.Vector
	for i, tc := range []struct {
		u       featurestore.Update
		changed bool
	}{
		{featurestore.Update{Name: "a", Value: 1, AsOf: t0}, true},
		{featurestore.Update{Name: "a", Value: 1, AsOf: t0}, false}, // replay
		{featurestore.Update{Name: "a", Value: 2, AsOf: t0}, true},  // same time, new value
		{featurestore.Update{Name: "a", Value: 3, AsOf: t0.Add(-1)}, false},
		{featurestore.Update{Name: "b", Value: 3, AsOf: t0.Add(-1)}, true},
	} {
		if got := v.Apply(tc.u); got != tc.changed {
			t.Errorf("update %d (%v): changed = %t, want %t", i, tc.u, got, tc.changed)
		}
	}
	if v.Features["a"].Value != 2 || v.Features["b"].Value != 3 {
		t.Errorf("vector = %v, want a=2, b=3", v.Features)
	}
}

// fakeReader serves vectors from a map, or fails with err.
type fakeReader struct {
	vectors   map[string]featurestore.Vector
	err       error
	recovered bool
}

func (r *fakeReader) Get(entity string) (featurestore.Vector, bool, error) {
	v, ok := r.vectors[entity]
	return v, ok, r.err
}

func (r *fakeReader) Recovered() bool { return r.recovered }

// entryReader is a fakeReader that also says when each vector was written.
type entryReader struct {
	fakeReader
	asOf time.Time
}

func (r *entryReader) Entry(entity string) (topology.Entry[featurestore.Vector], bool, error) {
	v, ok, err := r.Get(entity)
	return topology.Entry[featurestore.Vector]{Value: v, AsOf: r.asOf}, ok, err
}

func TestHandler(t *testing.T) {
	vectors := map[string]featurestore.Vector{
		"u1":   {Features: map[string]featurestore.Feature{"clicks_5m": {Value: 3, AsOf: t0}, "avg": {Value: 2.5, AsOf: t0}}},
		"a/b ": {Features: map[string]featurestore.Feature{"x": {Value: 1, AsOf: t0}}},
	}
	many := `{"entities":[` + strings.Repeat(`"u1",`, featurestore.MaxBatch) + `"u1"]}`
	written := t0.Add(time.Minute)
	for _, tc := range []struct {
		name       string
		r          featurestore.Reader
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"known entity", &fakeReader{vectors: vectors, recovered: true}, "GET", "/features/u1", "", 200,
			`{"entity":"u1","features":{"avg":{"value":2.5,"as_of":"2025-01-01T12:00:00Z"},"clicks_5m":{"value":3,"as_of":"2025-01-01T12:00:00Z"}}}`},
		{"escaped entity", &fakeReader{vectors: vectors, recovered: true}, "GET", "/features/a%2Fb%20", "", 200,
			`{"entity":"a/b ","features":{"x":{"value":1,"as_of":"2025-01-01T12:00:00Z"}}}`},
		{"unknown entity", &fakeReader{vectors: vectors, recovered: true}, "GET", "/features/nobody", "", 404,
			`{"error":"unknown entity \"nobody\""}`},
		{"not recovered", &fakeReader{vectors: vectors}, "GET", "/features/u1", "", 503,
			`{"error":"the feature store is still loading"}`},
		{"view stopped", &fakeReader{err: topology.ErrViewNotRunning, recovered: true}, "GET", "/features/u1", "", 503,
			`{"error":"topology: view not running"}`},
		{"read error", &fakeReader{err: errors.New("disk on fire"), recovered: true}, "GET", "/features/u1", "", 500,
			`{"error":"disk on fire"}`},
		{"wrong method", &fakeReader{vectors: vectors, recovered: true}, "POST", "/features/u1", "", 405, ""},
		{"no entity", &fakeReader{vectors: vectors, recovered: true}, "GET", "/features/", "", 404, ""},
		{"as of", &entryReader{fakeReader{vectors: vectors, recovered: true}, written}, "GET", "/features/u1", "", 200,
			`{"entity":"u1","features":{"avg":{"value":2.5,"as_of":"2025-01-01T12:00:00Z"},"clicks_5m":{"value":3,"as_of":"2025-01-01T12:00:00Z"}},"as_of":"2025-01-01T12:01:00Z"}`},
		{"batch", &entryReader{fakeReader{vectors: vectors, recovered: true}, written}, "POST", "/features", `{"entities":["a/b ","nobody"]}`, 200,
			`{"vectors":[{"entity":"a/b ","found":true,"features":{"x":{"value":1,"as_of":"2025-01-01T12:00:00Z"}},"as_of":"2025-01-01T12:01:00Z"},{"entity":"nobody","found":false}]}`},
		{"empty batch", &fakeReader{vectors: vectors, recovered: true}, "POST", "/features", `{"entities":[]}`, 200, `{"vectors":[]}`},
		{"batch read error", &fakeReader{err: errors.New("disk on fire"), recovered: true}, "POST", "/features", `{"entities":["u1"]}`, 200,
			`{"vectors":[{"entity":"u1","found":false,"error":"disk on fire"}]}`},
		{"batch not recovered", &fakeReader{vectors: vectors}, "POST", "/features", `{"entities":["u1"]}`, 503,
			`{"error":"the feature store is still loading"}`},
		{"batch view stopped", &fakeReader{err: topology.ErrViewNotRunning, recovered: true}, "POST", "/features", `{"entities":["u1"]}`, 503,
			`{"error":"topology: view not running"}`},
		{"batch too large", &fakeReader{vectors: vectors, recovered: true}, "POST", "/features", many, 400,
			`{"error":"1001 entities: ask for at most 1000 per request"}`},
		{"batch not JSON", &fakeReader{vectors: vectors, recovered: true}, "POST", "/features", `["u1"]`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			featurestore.Handler(tc.r).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if rec.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantBody == "" {
				return
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tc.wantBody {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.wantStatus == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// get fetches url and decodes a 200 body; it returns the status.
func get(c *http.Client, url string) (int, featurestore.Response, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, featurestore.Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, featurestore.Response{}, err
	}
	var r featurestore.Response
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &r); err != nil {
			return resp.StatusCode, r, fmt.Errorf("body %q: %w", b, err)
		}
	}
	return resp.StatusCode, r, nil
}
