package topology_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// The examples below run their graphs on topologytest's harness, the way to
// run agents without a broker; ExampleEmitter runs one on the
// embedded broker.

// Purchase is the value type of the examples' purchases stream.
type Purchase struct {
	Item   string `json:"item"`
	Amount int64  `json:"amount"`
}

var (
	purchases = topology.Stream[Purchase]{Name: "purchases", Codec: topology.JSON[Purchase]()}
	smallBuys = topology.Stream[Purchase]{Name: "smallBuys-purchases", Codec: topology.JSON[Purchase]()}
	largeBuys = topology.Stream[Purchase]{Name: "largeBuys-purchases", Codec: topology.JSON[Purchase]()}
)

// An agent keeps state per key (here a customer's order total), emits to the
// streams it declares, and sends a record it cannot handle to its dead-letter
// topic instead of stopping.
func ExampleAgent() {
	totals := topology.Stream[int64]{Name: "order-totals", Codec: topology.Int64()}
	spend := topology.Agent[int64]{
		Name:  "spend",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(purchases,
			func(c *topology.Context[int64], customer string, o Purchase) error {
				if o.Amount <= 0 {
					return fmt.Errorf("amount %d: %w", o.Amount, topology.ErrPermanent)
				}
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + o.Amount); err != nil {
					return err
				}
				return topology.Emit(c, totals, customer, n+o.Amount)
			})},
		Outputs: []topology.Topic{totals},
	}
	g := &topology.Graph{Name: "shop", Sources: []topology.Topic{purchases}, Sinks: []topology.Topic{totals},
		Agents: []topology.AgentDecl{spend}}

	t := new(guideT)
	defer t.cleanup()
	h := topologytest.New(t, g)
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "tea", Amount: 4})
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "cake", Amount: 6})
	topologytest.Consume(h, purchases, "bob", Purchase{Item: "free lunch", Amount: 0})
	topologytest.ConsumeRaw(h, purchases.Name, "bob", []byte("not json"))

	for _, r := range topologytest.Output(h, totals) {
		fmt.Println("total:", r.Key, r.Value)
	}
	for _, d := range topologytest.DeadLetters(h, "spend") {
		fmt.Println("dead letter:", d.Key, d.Cause)
	}
	n, _ := topologytest.TableValue(h, spend.Table(), "ann")
	fmt.Println("state of ann:", n)
	// Output:
	// total: ann 4
	// total: ann 10
	// dead letter: bob handler
	// dead letter: bob decode
	// state of ann: 10
}

// A handler routes each record by its data: to one, several or none of its
// declared outputs. An output it did not declare is a routing mistake, and
// the record goes to the dead-letter topic.
func ExampleEmitTo() {
	router := topology.Agent[struct{}]{
		Name: "router",
		Inputs: []topology.Input[struct{}]{topology.Consume(purchases,
			func(c *topology.Context[struct{}], customer string, o Purchase) error {
				switch {
				case o.Amount >= 100:
					return topology.Emit(c, largeBuys, customer, o)
				case o.Item == "":
					return topology.EmitTo(c, "purchases-without-item", customer, o) // not declared
				default:
					return topology.EmitTo(c, smallBuys.Name, customer, o)
				}
			})},
		Outputs: []topology.Topic{smallBuys, largeBuys},
	}
	g := &topology.Graph{Name: "shop", Sources: []topology.Topic{purchases}, Sinks: []topology.Topic{smallBuys, largeBuys},
		Agents: []topology.AgentDecl{router}}

	t := new(guideT)
	defer t.cleanup()
	h := topologytest.New(t, g)
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "tea", Amount: 4})
	topologytest.Consume(h, purchases, "bob", Purchase{Item: "bike", Amount: 400})
	topologytest.Consume(h, purchases, "cat", Purchase{Amount: 1})
	for _, r := range topologytest.Output(h, smallBuys) {
		fmt.Println("smallBuys:", r.Key, r.Value.Item)
	}
	for _, r := range topologytest.Output(h, largeBuys) {
		fmt.Println("largeBuys:", r.Key, r.Value.Item)
	}
	for _, d := range topologytest.DeadLetters(h, "router") {
		fmt.Println("dead letter:", d.Key, d.Cause)
	}
	// Output:
	// smallBuys: ann tea
	// largeBuys: bob bike
	// dead letter: cat route
}

// An agent reads another agent's table by any key with Lookup (by the
// record's own key, on a co-partitioned table, with Join). The table here is
// written by an agent of another topology (a source of this one), so the
// test sets its values.
func ExampleLookup() {
	prices := topology.ExternalTable("prices", topology.Int64())
	billing := topology.Agent[struct{}]{
		Name: "billing",
		Inputs: []topology.Input[struct{}]{topology.Consume(purchases,
			func(c *topology.Context[struct{}], customer string, o Purchase) error {
				price, ok, err := topology.Lookup(c, prices, o.Item)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no price for %q: %w", o.Item, topology.ErrPermanent)
				}
				return topology.Emit(c, largeBuys, customer, Purchase{Item: o.Item, Amount: o.Amount * price})
			})},
		Outputs: []topology.Topic{largeBuys},
		Lookups: []topology.Topic{prices},
	}
	g := &topology.Graph{Name: "billing", Sources: []topology.Topic{purchases, prices}, Sinks: []topology.Topic{largeBuys},
		Agents: []topology.AgentDecl{billing}}

	t := new(guideT)
	defer t.cleanup()
	h := topologytest.New(t, g)
	topologytest.SetTable(h, prices, "tea", 3)
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "tea", Amount: 2})
	topologytest.Consume(h, purchases, "bob", Purchase{Item: "gold", Amount: 1})
	for _, r := range topologytest.Output(h, largeBuys) {
		fmt.Println("billed:", r.Key, r.Value.Item, r.Value.Amount)
	}
	for _, d := range topologytest.DeadLetters(h, "billing") {
		fmt.Println("dead letter:", d.Key, d.Err)
	}
	// Output:
	// billed: ann tea 6
	// dead letter: bob no price for "gold": topology: permanent failure
}

// ConsumeAsync runs slow work (a model call, a remote check) for several
// records of a partition at once and applies each result in order, with the
// agent's state. topologytest runs the work inline.
func ExampleConsumeAsync() {
	verdicts := topology.Stream[string]{Name: "verdicts", Codec: topology.String()}
	score := func(_ context.Context, _ string, o Purchase) (int64, error) {
		return o.Amount * 10, nil // stands in for a model call
	}
	checker := topology.Agent[int64]{
		Name:  "checker",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.ConsumeAsync(purchases, 8, topology.Int64(), score,
			func(c *topology.Context[int64], customer string, risk int64) error {
				seen, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(seen + 1); err != nil {
					return err
				}
				verdict := "ok"
				if risk > 500 {
					verdict = "review"
				}
				return topology.Emit(c, verdicts, customer, fmt.Sprintf("order %d: %s", seen+1, verdict))
			})},
		Outputs: []topology.Topic{verdicts},
	}
	g := &topology.Graph{Name: "risk", Sources: []topology.Topic{purchases}, Sinks: []topology.Topic{verdicts},
		Agents: []topology.AgentDecl{checker}}

	t := new(guideT)
	defer t.cleanup()
	h := topologytest.New(t, g)
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "tea", Amount: 4})
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "bike", Amount: 400})
	for _, r := range topologytest.Output(h, verdicts) {
		fmt.Println(r.Key, r.Value)
	}
	// Output:
	// ann order 1: ok
	// ann order 2: review
}

// A stream-time timer fires once the partition's stream time (the largest
// timestamp of the records handled) passes it, whatever the wall clock says,
// after the handling of the record that moved it. Here a customer's orders
// are summed until the customer has been quiet for half an hour of stream
// time; setting the timer again replaces it.
func ExampleContext_SetTimer() {
	sessions := topology.Stream[int64]{Name: "sessions", Codec: topology.Int64()}
	quiet := topology.Agent[int64]{
		Name:  "quiet",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(purchases,
			func(c *topology.Context[int64], customer string, o Purchase) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				at := c.Timestamp().Add(30 * time.Minute)
				if err := c.SetTimer(topology.Timer{Name: "quiet", At: at, Stream: true}); err != nil {
					return err
				}
				return c.SetState(n + o.Amount)
			})},
		Outputs: []topology.Topic{sessions},
		OnTimer: func(c *topology.Context[int64], customer string, _ topology.Timer) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if err := c.DeleteState(); err != nil {
				return err
			}
			return topology.Emit(c, sessions, customer, n)
		},
	}
	g := &topology.Graph{Name: "sessions", Sources: []topology.Topic{purchases}, Sinks: []topology.Topic{sessions},
		Agents: []topology.AgentDecl{quiet}}

	t := new(guideT)
	defer t.cleanup()
	h := topologytest.New(t, g)
	at := func(hhmm string) topologytest.ConsumeOption {
		ts, _ := time.Parse("2006-01-02 15:04", "2025-01-01 "+hhmm)
		return topologytest.WithTime(ts)
	}
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "tea", Amount: 4}, at("09:10"))
	topologytest.Consume(h, purchases, "ann", Purchase{Item: "cake", Amount: 6}, at("09:30"))
	fmt.Println("sessions so far:", len(topologytest.Output(h, sessions)))
	// bob's order moves the partition's stream time past ann's timer (10:00).
	topologytest.Consume(h, purchases, "bob", Purchase{Item: "tea", Amount: 4}, at("10:05"))
	for _, r := range topologytest.Output(h, sessions) {
		fmt.Println("session:", r.Key, r.Value)
	}
	// Output:
	// sessions so far: 0
	// session: ann 10
}

// Run runs a graph on Kafka: here on the embedded broker, in a directory of
// its own. An Emitter feeds the graph from outside (a generator, an HTTP
// handler) and returns every failed write as an error; a View is a local,
// read-only copy of an agent's table, for services that answer by key.
func ExampleEmitter() {
	clicks := topology.Stream[string]{Name: "clicks", Codec: topology.String()}
	counter := topology.Agent[int64]{
		Name:  "click-counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(clicks,
			func(c *topology.Context[int64], user string, _ string) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				return c.SetState(n + 1)
			})},
	}
	g := &topology.Graph{Name: "clicks", Sources: []topology.Topic{clicks}, Agents: []topology.AgentDecl{counter}}

	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	brokers := make(chan []string, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- topology.Run(runCtx, g, topology.DataDir(dir), topology.EmbeddedListen("127.0.0.1:0"),
			topology.OnProvisioned(func(addrs []string) { brokers <- addrs }))
	}()
	var addrs []string
	select {
	case addrs = <-brokers:
	case err := <-done:
		fmt.Println("run:", err)
		return
	}

	em, err := topology.NewEmitter(clicks, topology.Brokers(addrs...))
	if err != nil {
		fmt.Println(err)
		stop()
		<-done
		return
	}
	for _, user := range []string{"ann", "bob", "ann"} {
		if err := em.Write(ctx, user, "/home"); err != nil {
			fmt.Println("emit:", err)
		}
	}
	if err := em.Close(); err != nil {
		fmt.Println("close:", err)
	}

	view, err := topology.NewView(counter.Table(), topology.Brokers(addrs...), topology.DataDir(dir))
	if err != nil {
		fmt.Println(err)
		stop()
		<-done
		return
	}
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Run(runCtx) }()
	if err := view.WaitRecovered(ctx); err != nil {
		fmt.Println("recover:", err)
	}
	// The view follows the table's changelog: it holds ann's second click
	// once the agent handled it and its write reached the broker.
	for n := int64(0); n != 2 && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		if n, _, err = view.Get("ann"); err != nil {
			fmt.Println("get:", err)
		}
	}
	for _, user := range []string{"ann", "bob"} {
		n, ok, err := view.Get(user)
		fmt.Println(user, n, ok, err)
	}
	stop()
	fmt.Println("view:", <-viewDone)
	fmt.Println("run:", <-done)
	// Output:
	// ann 2 true <nil>
	// bob 1 true <nil>
	// view: <nil>
	// run: <nil>
}

// guideT stands in for the *testing.T a test passes to topologytest.New.
type guideT struct{ cleanups []func() }

func (t *guideT) Helper()                           {}
func (t *guideT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *guideT) Errorf(format string, args ...any) { fmt.Printf("error: "+format+"\n", args...) }
func (t *guideT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *guideT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }

func (t *guideT) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}
