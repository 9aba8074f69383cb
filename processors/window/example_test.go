package window_test

import (
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// Example counts clicks per user in tumbling one-minute windows with ten
// seconds of grace, and emits each window's final count when it closes.
func Example() {
	type Click struct {
		Page string `json:"page"`
	}
	clicks := topology.Stream[Click]{Name: "clicks", Codec: topology.JSON[Click]()}
	counts := topology.Stream[window.Result]{Name: "clicks-1m", Codec: topology.JSON[window.Result]()}
	late := topology.Stream[window.LateRecord[Click]]{Name: "clicks-late", Codec: topology.JSON[window.LateRecord[Click]]()}
	metrics := new(window.Metrics)
	agent, err := window.New(window.Config[Click]{
		Name:      "clicks-1m",
		Input:     clicks,
		Kind:      window.Tumbling,
		Size:      time.Minute,
		Grace:     10 * time.Second,
		Output:    counts,
		Late:      late,
		EmitFinal: true,
		FinalOnly: true,
		Metrics:   metrics,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := &topology.Graph{
		Name:    "clicks",
		Sources: []topology.Topic{clicks},
		Sinks:   []topology.Topic{counts, late},
		Agents:  []topology.AgentDecl{agent},
	}

	t := new(exampleT) // a test passes its *testing.T
	defer t.cleanup()
	h := topologytest.New(t, g)
	at := func(hms string) topologytest.ConsumeOption {
		ts, _ := time.Parse(time.TimeOnly, hms)
		return topologytest.WithTime(time.Date(2025, 1, 1, ts.Hour(), ts.Minute(), ts.Second(), 0, time.UTC))
	}
	topologytest.Consume(h, clicks, "ann", Click{"/"}, at("12:00:05"))
	topologytest.Consume(h, clicks, "ann", Click{"/a"}, at("12:00:50"))
	topologytest.Consume(h, clicks, "ann", Click{"/b"}, at("12:01:03"))
	topologytest.Consume(h, clicks, "ann", Click{"/c"}, at("12:00:58")) // within grace
	topologytest.Consume(h, clicks, "ann", Click{"/d"}, at("12:01:20")) // closes 12:00
	topologytest.Consume(h, clicks, "ann", Click{"/e"}, at("12:00:59")) // too late

	for _, r := range topologytest.Output(h, counts) {
		fmt.Printf("%s %s-%s: %v clicks (final %t)\n", r.Key,
			r.Value.Start.Format(time.TimeOnly), r.Value.End.Format(time.TimeOnly), r.Value.Value, r.Value.Final)
	}
	for _, r := range topologytest.Output(h, late) {
		fmt.Printf("late: %s %s at stream time %s\n", r.Key, r.Value.Value.Page, r.Value.StreamTime.Format(time.TimeOnly))
	}
	fmt.Println("metrics:", metrics)
	// Output:
	// ann 12:00:00-12:01:00: 3 clicks (final true)
	// late: ann /e at stream time 12:01:20
	// metrics: {"records":5,"late":1,"updates":0,"finals":1}
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
