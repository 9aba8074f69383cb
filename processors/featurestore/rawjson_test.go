package featurestore

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// sameAsMarshal checks what storedFeatures promises: if it accepts b, b
// decodes, and the answer copied from it is byte for byte the one json.Marshal
// gives for the decoded vector.
func sameAsMarshal(t *testing.T, entity string, b []byte, asOf time.Time) (accepted bool) {
	t.Helper()
	obj, ok := storedFeatures(b)
	if !ok {
		return false
	}
	var v Vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("storedFeatures accepted %q, which does not decode: %v", b, err)
	}
	for _, batch := range []bool{false, true} {
		var body any = Response{Entity: entity, Features: v.Features, AsOf: asOf}
		if batch {
			body = BatchVector{Entity: entity, Found: true, Features: v.Features, AsOf: asOf}
		}
		want, wantErr := json.Marshal(body)
		got, err := appendVector(nil, batch, entity, obj, asOf)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendVector(batch %v, %q, %q, %v) error %v, json.Marshal's %v", batch, entity, obj, asOf, err, wantErr)
		}
		if string(got) != string(want) {
			t.Fatalf("answer (batch %v) copied from %q:\n%s\njson.Marshal:\n%s", batch, b, got, want)
		}
	}
	return true
}

func TestStoredFeaturesTakesWhatMarshalWrites(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for name, v := range map[string]Vector{
		"nil":   {},
		"empty": {Features: map[string]Feature{}},
		"one":   {Features: map[string]Feature{"clicks_5m": {Value: 3, AsOf: at}}},
		"four": {Features: map[string]Feature{
			"clicks_5m": {Value: 3, AsOf: at}, "txn_count_1h": {Value: 7, AsOf: at.Add(time.Second)},
			"avg_txn_value_1h": {Value: 12.5, AsOf: at.Add(time.Nanosecond)}, "max": {Value: -1e300, AsOf: at.In(time.FixedZone("", 2*3600))},
		}},
		"numbers": {Features: map[string]Feature{
			"a": {Value: 1e-7}, "b": {Value: 1e21}, "c": {Value: 123456789.125}, "d": {Value: math.Copysign(0, -1)},
			"e": {Value: 5e-324}, "f": {Value: math.MaxFloat64}, "g": {Value: 0.1},
		}},
		"names": {Features: map[string]Feature{"A": {}, "a": {}, "a b": {}, "a.b": {}, "Z_9": {}}},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, asOf := range []time.Time{{}, at, at.Add(123 * time.Microsecond)} {
			if !sameAsMarshal(t, "e1", b, asOf) {
				t.Errorf("%s: storedFeatures refused json.Marshal's %s", name, b)
			}
		}
	}
}

func TestStoredFeaturesRefusesOtherForms(t *testing.T) {
	for _, b := range []string{
		``, `{}`, `null`, `{"features":}`, `{"features":[]}`, `{"features":{}} `,
		`{ "features":{}}`,
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00Z"}},"extra":1}`,
		`{"features":{"b":{"value":1,"as_of":"2026-01-01T12:00:00Z"},"a":{"value":1,"as_of":"2026-01-01T12:00:00Z"}}}`, // unsorted
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00Z"},"a":{"value":2,"as_of":"2026-01-01T12:00:00Z"}}}`, // twice
		`{"features":{"a":{"value":1.0,"as_of":"2026-01-01T12:00:00Z"}}}`,
		`{"features":{"a":{"value":1E3,"as_of":"2026-01-01T12:00:00Z"}}}`,
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00.500Z"}}}`,
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00+00:00"}}}`,
		`{"features":{"a":{"as_of":"2026-01-01T12:00:00Z","value":1}}}`,
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00Z","x":1}}}`,
		`{"features":{"\u0061":{"value":1,"as_of":"2026-01-01T12:00:00Z"}}}`,
		`{"features":{"a<b":{"value":1,"as_of":"2026-01-01T12:00:00Z"}}}`,
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00Z"},}}`,
		`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00Z"}}`,
	} {
		if _, ok := storedFeatures([]byte(b)); ok {
			t.Errorf("storedFeatures accepted %s", b)
		}
	}
}

func FuzzStoredFeatures(f *testing.F) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []Vector{{}, {Features: map[string]Feature{"a": {Value: 1.5, AsOf: at}, "b": {Value: -2e-9, AsOf: at.Add(time.Millisecond)}}}} {
		b, _ := json.Marshal(v)
		f.Add(b, "e1", at.UnixNano())
	}
	f.Add([]byte(`{"features":{"a":{"value":1,"as_of":"2026-01-01T12:00:00+02:00"}}}`), `e"<1>`, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, entity string, asOfNanos int64) {
		var asOf time.Time
		if asOfNanos != 0 {
			asOf = time.Unix(0, asOfNanos).UTC()
		}
		sameAsMarshal(t, entity, b, asOf)
	})
}

// rawVectors is a Reader with and without RawEntry, over stored bytes.
type rawVectors map[string][]byte

var rawAt = time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC)

func (r rawVectors) Get(entity string) (Vector, bool, error) {
	e, ok, err := r.Entry(entity)
	return e.Value, ok, err
}

func (r rawVectors) Entry(entity string) (topology.Entry[Vector], bool, error) {
	b, ok := r[entity]
	if !ok {
		return topology.Entry[Vector]{}, false, nil
	}
	v, err := topology.JSON[Vector]().Decode(b)
	if err != nil {
		return topology.Entry[Vector]{}, false, err
	}
	return topology.Entry[Vector]{Value: v, AsOf: rawAt}, true, nil
}

type withRaw struct{ rawVectors }

func (r withRaw) RawEntry(entity string) (topology.Entry[[]byte], bool, error) {
	b, ok := r.rawVectors[entity]
	return topology.Entry[[]byte]{Value: b, AsOf: rawAt}, ok, nil
}

// TestHandlerAnswersFromStoredBytes checks that a Reader with RawEntry gets
// the answers, status and body, of one without.
func TestHandlerAnswersFromStoredBytes(t *testing.T) {
	store := rawVectors{
		"marshalled": []byte(`{"features":{"clicks_5m":{"value":3,"as_of":"2026-01-01T12:00:00Z"},"txn_count_1h":{"value":7.25,"as_of":"2026-01-01T12:00:00.5Z"}}}`),
		"spaced":     []byte(`{"features": {"clicks_5m": {"value": 3.0, "as_of": "2026-01-01T12:00:00Z"}}}`),
		"empty":      []byte(`{"features":{}}`),
		"broken":     []byte(`{"features":{"clicks_5m":`),
	}
	plain, raw := Handler(store), Handler(withRaw{store})
	entities := []string{"marshalled", "spaced", "empty", "broken", "unknown"}
	for _, entity := range entities {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		plain.ServeHTTP(want, httptest.NewRequest(http.MethodGet, "/features/"+entity, nil))
		raw.ServeHTTP(got, httptest.NewRequest(http.MethodGet, "/features/"+entity, nil))
		if got.Code != want.Code || (got.Code == http.StatusOK && got.Body.String() != want.Body.String()) {
			t.Errorf("%s: with RawEntry %d %s, without %d %s", entity, got.Code, got.Body, want.Code, want.Body)
		}
		if got.Code == http.StatusInternalServerError && !strings.Contains(got.Body.String(), entity) {
			t.Errorf("%s: 500 %s does not name the entity", entity, got.Body)
		}
		if ct := got.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", entity, ct)
		}
	}
}

// TestHandlerAnswersConcurrently checks that answers written from pooled
// buffers are each their own: lookups of vectors of many sizes (one beyond
// the pooled bound) from several goroutines at once get the answers of a
// Reader without RawEntry, byte for byte.
func TestHandlerAnswersConcurrently(t *testing.T) {
	store := rawVectors{}
	for i, n := range []int{0, 1, 4, 40, 400, 4000} {
		v := Vector{Features: map[string]Feature{}}
		for f := range n {
			v.Features[fmt.Sprintf("feature_%04d", f)] = Feature{Value: float64(i*f) + 0.25, AsOf: rawAt}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		store[fmt.Sprintf("e%d", i)] = b
	}
	if len(store["e5"]) <= maxPooledBody {
		t.Fatalf("the largest vector is %d bytes, want more than the pooled bound %d", len(store["e5"]), maxPooledBody)
	}
	want := map[string]string{}
	plain := Handler(store)
	for entity := range store {
		rec := httptest.NewRecorder()
		plain.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/features/"+entity, nil))
		want[entity] = rec.Body.String()
	}
	raw := Handler(withRaw{store})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				entity := fmt.Sprintf("e%d", (g+i*7)%len(store))
				rec := httptest.NewRecorder()
				raw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/features/"+entity, nil))
				if rec.Code != http.StatusOK || rec.Body.String() != want[entity] {
					t.Errorf("%s: %d %.200s, want %.200s", entity, rec.Code, rec.Body, want[entity])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestHandlerBatchesFromStoredBytes checks that a Reader with RawEntry gets
// the batch answers of one without, but for the wording of decoding errors.
func TestHandlerBatchesFromStoredBytes(t *testing.T) {
	store := rawVectors{
		"marshalled": []byte(`{"features":{"clicks_5m":{"value":3,"as_of":"2026-01-01T12:00:00Z"}}}`),
		"spaced":     []byte(`{"features": {"clicks_5m": {"value": 3.0, "as_of": "2026-01-01T12:00:00Z"}}}`),
		"empty":      []byte(`{"features":{}}`),
		"null":       []byte(`{"features":null}`),
		"broken":     []byte(`{"features":{"clicks_5m":`),
	}
	body := `{"entities":["marshalled","spaced","unknown","empty","null","broken","marshalled"]}`
	want, got := httptest.NewRecorder(), httptest.NewRecorder()
	Handler(store).ServeHTTP(want, httptest.NewRequest(http.MethodPost, "/features", strings.NewReader(body)))
	Handler(withRaw{store}).ServeHTTP(got, httptest.NewRequest(http.MethodPost, "/features", strings.NewReader(body)))
	if got.Code != http.StatusOK || want.Code != http.StatusOK {
		t.Fatalf("with RawEntry %d %s, without %d %s", got.Code, got.Body, want.Code, want.Body)
	}
	var g, w BatchResponse
	if err := json.Unmarshal(got.Body.Bytes(), &g); err != nil {
		t.Fatalf("%v: %s", err, got.Body)
	}
	if err := json.Unmarshal(want.Body.Bytes(), &w); err != nil {
		t.Fatal(err)
	}
	for i := range w.Vectors {
		if (g.Vectors[i].Error == "") != (w.Vectors[i].Error == "") {
			t.Errorf("%s: error %q, without RawEntry %q", w.Vectors[i].Entity, g.Vectors[i].Error, w.Vectors[i].Error)
		}
		g.Vectors[i].Error, w.Vectors[i].Error = "", ""
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("with RawEntry:\n%s\nwithout:\n%s", got.Body, want.Body)
	}
	if !strings.Contains(got.Body.String(), `{"entity":"marshalled","found":true,"features":{"clicks_5m":{"value":3,"as_of":"2026-01-01T12:00:00Z"}},"as_of":"2026-01-01T12:00:01Z"}`) {
		t.Errorf("answer without the stored vector copied in:\n%s", got.Body)
	}
}
