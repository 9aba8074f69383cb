package inference_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// Example loads a logistic model, joins each request with the requesting
// user's features and prints the predictions: one with every feature, one
// flagged because the user has no transactions yet. In production the graph
// runs with topology.Run; here it runs on the test harness.
func Example() {
	dir, err := os.MkdirTemp("", "inference-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fraud.json")
	model := `{"name":"fraud","version":"1","features":["clicks_5m","txn_count_1h"],"intercept":-2,"weights":[0.1,0.5]}`
	if err := os.WriteFile(path, []byte(model), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	m, err := inference.LoadLogistic(path)
	if err != nil {
		fmt.Println(err) // wraps inference.ErrModel and names the file
		return
	}

	updates := topology.Stream[featurestore.Update]{Name: "feature-updates", Codec: topology.JSON[featurestore.Update]()}
	requests := topology.Stream[inference.Request]{Name: "inference-requests", Codec: topology.JSON[inference.Request]()}
	predictions := topology.Stream[inference.Prediction]{Name: "predictions", Codec: topology.JSON[inference.Prediction]()}
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		fmt.Println(err)
		return
	}
	scorer, err := inference.New(inference.Config{
		Name:     "scorer",
		Requests: requests,
		Features: store.Table(),
		Out:      predictions,
		Model:    m,
		Missing:  inference.Flag,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := &topology.Graph{
		Name:    "inference",
		Sources: []topology.Topic{updates, requests},
		Sinks:   []topology.Topic{predictions},
		Agents:  []topology.AgentDecl{store, scorer},
	}

	t := new(exampleT) // a test passes its *testing.T
	defer t.cleanup()
	h := topologytest.New(t, g)
	noon := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	topologytest.Consume(h, updates, "ann", featurestore.Update{Name: "clicks_5m", Value: 12, AsOf: noon})
	topologytest.Consume(h, updates, "ann", featurestore.Update{Name: "txn_count_1h", Value: 3, AsOf: noon})
	topologytest.Consume(h, updates, "bob", featurestore.Update{Name: "clicks_5m", Value: 4, AsOf: noon})
	topologytest.Consume(h, requests, "ann", inference.Request{ID: "pay-1"}, topologytest.WithTime(noon))
	topologytest.Consume(h, requests, "bob", inference.Request{ID: "pay-2"}, topologytest.WithTime(noon))

	for _, r := range topologytest.Output(h, predictions) {
		p := r.Value
		fmt.Printf("%s %s: %.4f by %s v%s from %v missing %v flagged %t\n",
			p.RequestID, p.Entity, p.Score, p.Model, p.ModelVersion, p.Features, p.Missing, p.Flagged)
	}
	// Output:
	// pay-1 ann: 0.6682 by fraud v1 from map[clicks_5m:12 txn_count_1h:3] missing [] flagged false
	// pay-2 bob: 0.1680 by fraud v1 from map[clicks_5m:4] missing [txn_count_1h] flagged true
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
