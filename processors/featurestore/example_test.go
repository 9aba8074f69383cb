package featurestore_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// Example materialises feature updates into the store's table and answers
// lookups from it. In production the handler reads a topology.View of
// store.Table(); here it reads the test harness's copy.
func Example() {
	updates := topology.Stream[featurestore.Update]{Name: "feature-updates", Codec: topology.JSON[featurestore.Update]()}
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := &topology.Graph{Name: "features", Sources: []topology.Topic{updates}, Agents: []topology.AgentDecl{store}}

	t := new(exampleT) // a test passes its *testing.T
	defer t.cleanup()
	h := topologytest.New(t, g)
	noon := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	topologytest.Consume(h, updates, "ann", featurestore.Update{Name: "txn_count_1h", Value: 3, AsOf: noon})
	topologytest.Consume(h, updates, "ann", featurestore.Update{Name: "avg_txn_value_1h", Value: 42.5, AsOf: noon})
	topologytest.Consume(h, updates, "ann", featurestore.Update{Name: "txn_count_1h", Value: 4, AsOf: noon.Add(time.Minute)})

	lookup := featurestore.Handler(harnessReader{h, store.Table()})
	for _, path := range []string{"/features/ann", "/features/bob"} {
		rec := httptest.NewRecorder()
		lookup.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 {"entity":"ann","features":{"avg_txn_value_1h":{"value":42.5,"as_of":"2025-01-01T12:00:00Z"},"txn_count_1h":{"value":4,"as_of":"2025-01-01T12:01:00Z"}}}
	// 404 {"error":"unknown entity \"bob\""}
}

// harnessReader reads the store's table in a topologytest harness.
type harnessReader struct {
	h     *topologytest.Harness
	table topology.Table[featurestore.Vector]
}

func (r harnessReader) Get(entity string) (featurestore.Vector, bool, error) {
	v, ok := topologytest.TableValue(r.h, r.table, entity)
	return v, ok, nil
}

// exampleT stands in for the *testing.T a test passes to topologytest.New.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf("error: "+format+"\n", args...) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }

func (t *exampleT) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}
