package topologytest_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

func TestCounter(t *testing.T) {
	h := topologytest.New(t, counterGraph())
	if _, ok := topologytest.TableValue(h, counter.Table(), "u1"); ok {
		t.Fatal("u1 has a count before any click")
	}
	topologytest.Consume(h, clicks, "u1", Click{Page: "/"})
	topologytest.Consume(h, clicks, "u1", Click{Page: "/a"})
	topologytest.Consume(h, clicks, "u2", Click{Page: "/"})

	for user, want := range map[string]int64{"u1": 2, "u2": 1} {
		if got, ok := topologytest.TableValue(h, counter.Table(), user); !ok || got != want {
			t.Errorf("count of %s = %d, %t, want %d, true", user, got, ok, want)
		}
	}
	got := topologytest.Output(h, counts)
	want := []topologytest.Record[int64]{{Key: "u1", Value: 1}, {Key: "u1", Value: 2}, {Key: "u2", Value: 1}}
	if !equalRecords(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if got := topologytest.Output(h, counts); len(got) != 0 {
		t.Errorf("counts on a second call = %v, want none: Output returns only new records", got)
	}
	topologytest.Consume(h, clicks, "u2", Click{Page: "/b"})
	if got, want := topologytest.Output(h, counts), []topologytest.Record[int64]{{Key: "u2", Value: 2}}; !equalRecords(got, want) {
		t.Errorf("counts after one more click = %v, want %v", got, want)
	}
	if dl := topologytest.DeadLetters(h, "counter"); len(dl) != 0 {
		t.Errorf("dead letters = %v, want none", dl)
	}
}

func TestSetTableGivesState(t *testing.T) {
	h := topologytest.New(t, counterGraph())
	topologytest.SetTable(h, counter.Table(), "u1", 41)
	topologytest.Consume(h, clicks, "u1", Click{Page: "/"})
	if got, _ := topologytest.TableValue(h, counter.Table(), "u1"); got != 42 {
		t.Errorf("count of u1 = %d, want 42", got)
	}
}

func TestRouting(t *testing.T) {
	h := topologytest.New(t, routerGraph(false), topologytest.Retries(3))
	topologytest.Consume(h, orders, "o1", Order{Region: "eu", Amount: 1})
	topologytest.Consume(h, orders, "o2", Order{Region: "us", Amount: 2})
	topologytest.Consume(h, orders, "o3", Order{Region: "mars", Amount: 3})
	topologytest.Consume(h, orders, "o4", Order{Region: "eu", Amount: 4})

	if got, want := topologytest.Output(h, ordersEU), []topologytest.Record[Order]{
		{Key: "o1", Value: Order{"eu", 1}}, {Key: "o4", Value: Order{"eu", 4}},
	}; !equalRecords(got, want) {
		t.Errorf("orders-eu = %v, want %v", got, want)
	}
	if got, want := topologytest.Output(h, ordersUS), []topologytest.Record[Order]{
		{Key: "o2", Value: Order{"us", 2}},
	}; !equalRecords(got, want) {
		t.Errorf("orders-us = %v, want %v", got, want)
	}
	dl := topologytest.DeadLetters(h, "router")
	if len(dl) != 1 {
		t.Fatalf("dead letters = %v, want 1", dl)
	}
	d := dl[0]
	// A routing mistake fails the same way every time: no retry despite Retries(3).
	checkDeadLetter(t, d, "o3", "route", 1)
	if !strings.Contains(d.Err, `"orders-mars"`) || !strings.Contains(d.Err, topology.ErrUndeclaredOutput.Error()) {
		t.Errorf("error header = %q, want it to name orders-mars and %q", d.Err, topology.ErrUndeclaredOutput)
	}
	if got, want := string(d.Value), `{"region":"mars","amount":3}`; got != want {
		t.Errorf("dead letter value = %s, want the original %s", got, want)
	}
	for name, want := range map[string]string{
		topology.HeaderTopic:     "orders",
		topology.HeaderPartition: "0",
		topology.HeaderOffset:    "2",
		topology.HeaderAgent:     "router",
	} {
		if got := string(d.Headers[name]); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if len(d.Headers[topology.HeaderTime]) == 0 {
		t.Errorf("header %s missing", topology.HeaderTime)
	}
}

// TestRoutingErrorIgnored shows that a handler cannot hide a routing mistake by
// dropping EmitTo's error.
func TestRoutingErrorIgnored(t *testing.T) {
	h := topologytest.New(t, routerGraph(true))
	topologytest.Consume(h, orders, "o1", Order{Region: "mars"})
	dl := topologytest.DeadLetters(h, "router")
	if len(dl) != 1 {
		t.Fatalf("dead letters = %v, want 1", dl)
	}
	checkDeadLetter(t, dl[0], "o1", "route", 1)
}

func TestPoisonPill(t *testing.T) {
	h := topologytest.New(t, counterGraph(), topologytest.Retries(2))
	topologytest.ConsumeRaw(h, clicks.Name, "u1", []byte("not json"),
		topologytest.WithHeaders(map[string][]byte{"trace": []byte("t-1")}))
	topologytest.Consume(h, clicks, "u1", Click{Page: "/"})

	dl := topologytest.DeadLetters(h, "counter")
	if len(dl) != 1 {
		t.Fatalf("dead letters = %v, want 1", dl)
	}
	checkDeadLetter(t, dl[0], "u1", "decode", 1)
	if got := string(dl[0].Value); got != "not json" {
		t.Errorf("dead letter value = %q, want the original %q", got, "not json")
	}
	if got := string(dl[0].Headers["trace"]); got != "t-1" {
		t.Errorf("dead letter header trace = %q, want the original t-1", got)
	}
	// The agent went on with the next record.
	if got, _ := topologytest.TableValue(h, counter.Table(), "u1"); got != 1 {
		t.Errorf("count of u1 = %d, want 1", got)
	}
	if got, want := topologytest.Output(h, counts), []topologytest.Record[int64]{{Key: "u1", Value: 1}}; !equalRecords(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
}

func TestHandlerErrorRetries(t *testing.T) {
	for _, retries := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			calls := 0
			h := topologytest.New(t, bookerGraph(func(int, int64) error { calls++; return errDown }),
				topologytest.Retries(retries))
			topologytest.Consume(h, payments, "acct", 10)
			if calls != retries+1 {
				t.Errorf("handler calls = %d, want %d", calls, retries+1)
			}
			dl := topologytest.DeadLetters(h, "booker")
			if len(dl) != 1 {
				t.Fatalf("dead letters = %v, want 1", dl)
			}
			checkDeadLetter(t, dl[0], "acct", "handler", retries+1)
			if dl[0].Err != errDown.Error() {
				t.Errorf("error header = %q, want %q", dl[0].Err, errDown)
			}
		})
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	h := topologytest.New(t, bookerGraph(func(_ int, amount int64) error {
		return fmt.Errorf("amount %d: %w", amount, topology.ErrPermanent)
	}), topologytest.Retries(3))
	topologytest.Consume(h, payments, "acct", -5)
	dl := topologytest.DeadLetters(h, "booker")
	if len(dl) != 1 {
		t.Fatalf("dead letters = %v, want 1", dl)
	}
	checkDeadLetter(t, dl[0], "acct", "handler", 1)
}

func TestPanic(t *testing.T) {
	h := topologytest.New(t, bookerGraph(func(_ int, amount int64) error {
		if amount < 0 {
			panic("negative amount")
		}
		return nil
	}), topologytest.Retries(2))
	topologytest.Consume(h, payments, "acct", -5)
	topologytest.Consume(h, payments, "acct", 7)

	dl := topologytest.DeadLetters(h, "booker")
	if len(dl) != 1 {
		t.Fatalf("dead letters = %v, want 1", dl)
	}
	checkDeadLetter(t, dl[0], "acct", "panic", 1)
	if !strings.Contains(dl[0].Err, "negative amount") {
		t.Errorf("error header = %q, want the panic value", dl[0].Err)
	}
	// The panicking call left nothing behind, and the agent went on.
	if got, _ := topologytest.TableValue(h, bookerTable, "acct"); got != 7 {
		t.Errorf("balance = %d, want 7", got)
	}
	if got, want := topologytest.Output(h, booked), []topologytest.Record[int64]{{Key: "acct", Value: 7}}; !equalRecords(got, want) {
		t.Errorf("booked = %v, want %v", got, want)
	}
}

var bookerTable = topology.Table[int64]{Name: topology.TableName("booker"), Codec: topology.Int64()}

// TestBufferedEffects shows that a failed handler call leaves no trace: neither
// its emit nor its state change takes effect, on the last attempt or any before.
func TestBufferedEffects(t *testing.T) {
	t.Run("failed", func(t *testing.T) {
		h := topologytest.New(t, bookerGraph(func(int, int64) error { return errDown }), topologytest.Retries(2))
		topologytest.Consume(h, payments, "acct", 10)
		if got := topologytest.Output(h, booked); len(got) != 0 {
			t.Errorf("booked = %v, want nothing from a failed record", got)
		}
		if got, ok := topologytest.TableValue(h, bookerTable, "acct"); ok {
			t.Errorf("balance = %d, want none after a failed record", got)
		}
		if dl := topologytest.DeadLetters(h, "booker"); len(dl) != 1 {
			t.Errorf("dead letters = %v, want 1", dl)
		}
	})
	t.Run("succeeded on retry", func(t *testing.T) {
		h := topologytest.New(t, bookerGraph(func(attempt int, _ int64) error {
			if attempt < 3 {
				return errDown
			}
			return nil
		}), topologytest.Retries(2))
		topologytest.Consume(h, payments, "acct", 10)
		if got, want := topologytest.Output(h, booked), []topologytest.Record[int64]{{Key: "acct", Value: 10}}; !equalRecords(got, want) {
			t.Errorf("booked = %v, want %v: only the successful attempt's emit", got, want)
		}
		if got, _ := topologytest.TableValue(h, bookerTable, "acct"); got != 10 {
			t.Errorf("balance = %d, want 10: only the successful attempt's change", got)
		}
		if dl := topologytest.DeadLetters(h, "booker"); len(dl) != 0 {
			t.Errorf("dead letters = %v, want none", dl)
		}
	})
}

func TestLookupAndJoin(t *testing.T) {
	h := topologytest.New(t, enricherGraph())
	topologytest.Consume(h, profileUpdates, "u1", Profile{Name: "Ada"})
	topologytest.SetTable(h, countries, "u1", "GB")
	topologytest.Consume(h, clicks, "u1", Click{Page: "/"})
	topologytest.Consume(h, clicks, "u2", Click{Page: "/x"})
	topologytest.Consume(h, profileUpdates, "u1", Profile{Name: "Ada L."})
	topologytest.Consume(h, clicks, "u1", Click{Page: "/y"})

	want := []topologytest.Record[Visit]{
		{Key: "u1", Value: Visit{Page: "/", Name: "Ada", Country: "GB"}},
		{Key: "u2", Value: Visit{Page: "/x", Name: "?", Country: "?"}},
		{Key: "u1", Value: Visit{Page: "/y", Name: "Ada L.", Country: "GB"}},
	}
	if got := topologytest.Output(h, visits); !equalRecords(got, want) {
		t.Errorf("visits = %v, want %v", got, want)
	}
	if got, _ := topologytest.TableValue(h, countries, "u1"); got != "GB" {
		t.Errorf("country of u1 = %q, want GB", got)
	}
}

// TestTombstone shows that a nil value reaches the handler as nil, apart from an
// empty one.
func TestTombstone(t *testing.T) {
	raw := topology.Stream[[]byte]{Name: "raw", Codec: topology.Bytes()}
	var got [][]byte
	g := &topology.Graph{
		Name:    "tombstones",
		Sources: []topology.Topic{raw},
		Agents: []topology.AgentDecl{topology.Agent[struct{}]{
			Name: "sink",
			Inputs: []topology.Input[struct{}]{topology.Consume(raw,
				func(_ *topology.Context[struct{}], _ string, v []byte) error { got = append(got, v); return nil })},
		}},
	}
	h := topologytest.New(t, g)
	topologytest.ConsumeRaw(h, raw.Name, "k", nil)
	topologytest.ConsumeRaw(h, raw.Name, "k", []byte{})
	topologytest.Consume(h, raw, "k", []byte("x"))
	if len(got) != 3 || got[0] != nil || got[1] == nil || len(got[1]) != 0 || string(got[2]) != "x" {
		t.Errorf("handler saw %q (nil: %t, %t), want [nil, empty, x]", got, got[0] == nil, len(got) > 1 && got[1] == nil)
	}
}

// TestPipeline shows that a record flows through every agent downstream before
// Consume returns.
func TestPipeline(t *testing.T) {
	big := topology.Stream[int64]{Name: "big-counts", Codec: topology.Int64()}
	filter := topology.Agent[struct{}]{
		Name: "filter",
		Inputs: []topology.Input[struct{}]{topology.Consume(counts,
			func(c *topology.Context[struct{}], user string, n int64) error {
				if n < 2 {
					return nil
				}
				return topology.Emit(c, big, user, n)
			})},
		Outputs: []topology.Topic{big},
	}
	g := counterGraph()
	g.Sinks = []topology.Topic{big}
	g.Agents = append(g.Agents, filter)
	h := topologytest.New(t, g)
	for range 3 {
		topologytest.Consume(h, clicks, "u1", Click{Page: "/"})
	}
	if got, want := topologytest.Output(h, big), []topologytest.Record[int64]{{Key: "u1", Value: 2}, {Key: "u1", Value: 3}}; !equalRecords(got, want) {
		t.Errorf("big-counts = %v, want %v", got, want)
	}
}

// TestMisuse checks that the harness fails the test, saying why, when it is used
// wrongly.
func TestMisuse(t *testing.T) {
	other := topology.Stream[int64]{Name: "other", Codec: topology.Int64()}
	for _, tc := range []struct {
		name string
		g    *topology.Graph
		use  func(h *topologytest.Harness)
		want string
	}{
		{"invalid graph", &topology.Graph{Name: "empty", Agents: []topology.AgentDecl{topology.Agent[struct{}]{Name: "idle"}}},
			nil, topology.ErrNoInput.Error()},
		{"nil graph", nil, nil, "*topology.Graph"},
		{"consume non-input", counterGraph(), func(h *topologytest.Harness) { topologytest.Consume(h, counts, "k", 1) },
			`"counts" is an input of no agent`},
		{"output of non-output", counterGraph(), func(h *topologytest.Harness) { topologytest.Output(h, other) },
			`"other" is an output of no agent`},
		{"unknown agent", counterGraph(), func(h *topologytest.Harness) { topologytest.DeadLetters(h, "nobody") },
			`no agent "nobody"`},
		{"unknown table", counterGraph(), func(h *topologytest.Harness) { topologytest.TableValue(h, countries, "k") },
			`table "geo-table" is owned, looked up or joined by no agent`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(func(ft *fakeT) {
				h := topologytest.New(ft, tc.g)
				if tc.use != nil {
					tc.use(h)
				}
			})
			if len(ft.fatal) != 1 || !strings.Contains(ft.fatal[0], tc.want) {
				t.Errorf("fatal messages = %q, want one containing %q", ft.fatal, tc.want)
			}
			if len(ft.errors) != 0 {
				t.Errorf("error messages = %q, want none", ft.errors)
			}
		})
	}
}

// fakeT is a topologytest.T that records failures; Fatal ends the goroutine, as
// testing's does.
type fakeT struct {
	fatal, errors []string
	cleanups      []func()
}

func (t *fakeT) Helper()          {}
func (t *fakeT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *fakeT) Errorf(format string, args ...any) {
	t.errors = append(t.errors, fmt.Sprintf(format, args...))
}
func (t *fakeT) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *fakeT) Fatalf(format string, args ...any) {
	t.fatal = append(t.fatal, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// runFake runs f with a fakeT in its own goroutine, then the cleanups f
// registered, last first.
func runFake(f func(*fakeT)) *fakeT {
	ft := new(fakeT)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ft)
	}()
	<-done
	for _, c := range slices.Backward(ft.cleanups) {
		c()
	}
	return ft
}

func checkDeadLetter(t *testing.T, d topologytest.DeadLetter, key, cause string, attempts int) {
	t.Helper()
	if d.Key != key || d.Cause != cause || d.Attempts != attempts {
		t.Errorf("dead letter key %q, cause %q, attempts %d, want %q, %q, %d (error %q)",
			d.Key, d.Cause, d.Attempts, key, cause, attempts, d.Err)
	}
}

func equalRecords[T comparable](got, want []topologytest.Record[T]) bool {
	return slices.EqualFunc(got, want, func(a, b topologytest.Record[T]) bool {
		return a.Key == b.Key && a.Value == b.Value && len(a.Headers) == len(b.Headers)
	})
}

// TestRecordMetadata shows that headers and timestamps set with Consume options
// reach the handler.
func TestRecordMetadata(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var gotTrace string
	var gotTime time.Time
	g := &topology.Graph{
		Name:    "meta",
		Sources: []topology.Topic{clicks},
		Agents: []topology.AgentDecl{topology.Agent[struct{}]{
			Name: "meta",
			Inputs: []topology.Input[struct{}]{topology.Consume(clicks,
				func(c *topology.Context[struct{}], _ string, _ Click) error {
					gotTrace, gotTime = string(c.Header("trace")), c.Timestamp()
					return nil
				})},
		}},
	}
	h := topologytest.New(t, g)
	topologytest.Consume(h, clicks, "u1", Click{},
		topologytest.WithHeaders(map[string][]byte{"trace": []byte("t-9")}), topologytest.WithTime(at))
	if gotTrace != "t-9" || !gotTime.Equal(at) {
		t.Errorf("handler saw trace %q at %v, want t-9 at %v", gotTrace, gotTime, at)
	}
}

// TestUndeclaredTableIsNotRetried: a lookup or join of a table the agent did not
// declare fails the same way every time, like an emit to an undeclared output, so
// the record is dead-lettered at once instead of after every retry.
func TestUndeclaredTableIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(c *topology.Context[struct{}], key string) error
	}{
		{"lookup", func(c *topology.Context[struct{}], key string) error {
			_, _, err := topology.Lookup(c, countries, key)
			return err
		}},
		{"join", func(c *topology.Context[struct{}], _ string) error {
			_, _, err := topology.Join(c, countries)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			g := &topology.Graph{
				Name:    "undeclared",
				Sources: []topology.Topic{clicks},
				Agents: []topology.AgentDecl{topology.Agent[struct{}]{
					Name: "reader",
					Inputs: []topology.Input[struct{}]{topology.Consume(clicks,
						func(c *topology.Context[struct{}], user string, _ Click) error {
							calls++
							return tc.read(c, user)
						})},
				}},
			}
			h := topologytest.New(t, g, topologytest.Retries(2))
			topologytest.Consume(h, clicks, "u1", Click{})
			if calls != 1 {
				t.Errorf("handler calls = %d, want 1", calls)
			}
			dl := topologytest.DeadLetters(h, "reader")
			if len(dl) != 1 {
				t.Fatalf("dead letters = %v, want 1", dl)
			}
			checkDeadLetter(t, dl[0], "u1", "handler", 1)
			if !strings.Contains(dl[0].Err, `"geo-table"`) {
				t.Errorf("error header = %q, want it to name geo-table", dl[0].Err)
			}
		})
	}
}

// TestApplicationIgnored pins that a graph's Application does not rename
// what the harness holds: the agent's own table handle reads its state.
func TestApplicationIgnored(t *testing.T) {
	g := counterGraph()
	g.Application = "shop"
	h := topologytest.New(t, g)
	topologytest.Consume(h, clicks, "u1", Click{Page: "/"})
	if got, ok := topologytest.TableValue(h, counter.Table(), "u1"); !ok || got != 1 {
		t.Errorf("count of u1 = %d, %t, want 1, true", got, ok)
	}
}
