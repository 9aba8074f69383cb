package topologytest_test

import (
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

type PageView struct {
	Page string `json:"page"`
}

func Example() {
	views := topology.Stream[PageView]{Name: "page-views", Codec: topology.JSON[PageView]()}
	viewCounts := topology.Stream[int64]{Name: "view-counts", Codec: topology.Int64()}
	// pages counts views per page: it re-keys each view by its page.
	pages := topology.Agent[int64]{
		Name:  "pages",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(views,
			func(c *topology.Context[int64], _ string, v PageView) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return topology.Emit(c, viewCounts, v.Page, n+1)
			})},
		Outputs: []topology.Topic{viewCounts},
	}
	g := &topology.Graph{
		Name:    "views",
		Sources: []topology.Topic{views},
		Sinks:   []topology.Topic{viewCounts},
		Agents:  []topology.AgentDecl{pages},
	}

	t := new(exampleT) // a test passes its *testing.T
	defer t.cleanup()
	h := topologytest.New(t, g)

	topologytest.Consume(h, views, "/home", PageView{Page: "/home"})
	topologytest.Consume(h, views, "/home", PageView{Page: "/home"})
	topologytest.ConsumeRaw(h, views.Name, "/about", []byte("{oops"))

	n, ok := topologytest.TableValue(h, pages.Table(), "/home")
	fmt.Println("views of /home:", n, ok)
	for _, r := range topologytest.Output(h, viewCounts) {
		fmt.Println("emitted:", r.Key, r.Value)
	}
	for _, d := range topologytest.DeadLetters(h, "pages") {
		fmt.Printf("dead letter: %s %q cause=%s attempts=%d\n", d.Key, d.Value, d.Cause, d.Attempts)
	}
	// Output:
	// views of /home: 2 true
	// emitted: /home 1
	// emitted: /home 2
	// dead letter: /about "{oops" cause=decode attempts=1
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

func ExampleAdvance() {
	orders := topology.Stream[string]{Name: "orders", Codec: topology.String()}
	reminders := topology.Stream[string]{Name: "reminders", Codec: topology.String()}
	// unpaid reminds about an order not paid within an hour of being placed.
	unpaid := topology.Agent[struct{}]{
		Name: "unpaid",
		Inputs: []topology.Input[struct{}]{topology.Consume(orders,
			func(c *topology.Context[struct{}], id string, event string) error {
				if event == "paid" {
					return c.CancelTimer("unpaid")
				}
				return c.SetTimer(topology.Timer{Name: "unpaid", At: c.Now().Add(time.Hour)})
			})},
		Outputs: []topology.Topic{reminders},
		OnTimer: func(c *topology.Context[struct{}], id string, t topology.Timer) error {
			return topology.Emit(c, reminders, id, "unpaid since "+t.At.Add(-time.Hour).Format("15:04"))
		},
	}
	g := &topology.Graph{Name: "shop", Sources: []topology.Topic{orders}, Sinks: []topology.Topic{reminders},
		Agents: []topology.AgentDecl{unpaid}}

	t := new(exampleT)
	defer t.cleanup()
	h := topologytest.New(t, g)
	topologytest.Consume(h, orders, "o1", "placed")
	topologytest.Consume(h, orders, "o2", "placed")
	topologytest.Advance(h, 30*time.Minute)
	topologytest.Consume(h, orders, "o2", "paid")
	topologytest.Advance(h, time.Hour)
	for _, r := range topologytest.Output(h, reminders) {
		fmt.Println(r.Key, r.Value, "at", topologytest.Now(h).Format("15:04"))
	}
	// Output:
	// o1 unpaid since 00:00 at 01:30
}
