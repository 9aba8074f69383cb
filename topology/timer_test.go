package topology_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// Order is an order event: "open" starts waiting, "close" ends it.
type Order struct {
	Event string `json:"event"`
}

var (
	orders    = topology.Stream[Order]{Name: "orders", Codec: topology.JSON[Order]()}
	reminders = topology.Stream[string]{Name: "reminders", Codec: topology.String()}
)

// reminderAgent keeps each open order's count of events, and reminds about
// an order still open a minute after its last event: "KEY after N events
// (timer at T)". fail, if set, is the timer handler's error.
func reminderAgent(fail func(key string) error) topology.Agent[int64] {
	return topology.Agent[int64]{
		Name:  "reminder",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(orders,
			func(c *topology.Context[int64], key string, o Order) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if o.Event == "close" {
					if err := c.DeleteState(); err != nil {
						return err
					}
					return c.CancelTimer("remind")
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return c.SetTimer(topology.Timer{Name: "remind", At: c.Now().Add(time.Minute), Data: []byte(o.Event)})
			})},
		Outputs: []topology.Topic{reminders},
		OnTimer: func(c *topology.Context[int64], key string, t topology.Timer) error {
			if fail != nil {
				if err := fail(key); err != nil {
					return err
				}
			}
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if c.Now().Before(t.At) {
				return fmt.Errorf("fired at %s, before its time %s", c.Now(), t.At)
			}
			return topology.Emit(c, reminders, key, fmt.Sprintf("%s after %d events (%s, last %s)", key, n, t.At.Format("15:04:05"), t.Data))
		},
	}
}

func reminderGraph(fail func(string) error) *topology.Graph {
	return &topology.Graph{
		Name:    "reminders",
		Sources: []topology.Topic{orders},
		Sinks:   []topology.Topic{reminders},
		Agents:  []topology.AgentDecl{reminderAgent(fail)},
	}
}

func values[T any](recs []topologytest.Record[T]) []T {
	out := []T{}
	for _, r := range recs {
		out = append(out, r.Value)
	}
	return out
}

// TestTimerFiresReplacesCancels pins the timer API on the harness's fake
// clock: a timer fires at its time and not before, with the key's state;
// setting it again replaces it (the old time passes with no firing); a
// cancelled timer never fires; timers of different keys are independent.
func TestTimerFiresReplacesCancels(t *testing.T) {
	h := topologytest.New(t, reminderGraph(nil))
	topologytest.Consume(h, orders, "o1", Order{Event: "open"})   // o1 due 00:01:00
	topologytest.Consume(h, orders, "o2", Order{Event: "open"})   // o2 due 00:01:00
	topologytest.Advance(h, 30*time.Second)                       // 00:00:30
	topologytest.Consume(h, orders, "o1", Order{Event: "update"}) // o1 replaced: due 00:01:30
	topologytest.Advance(h, 29*time.Second)                       // 00:00:59
	if got := values(topologytest.Output(h, reminders)); len(got) != 0 {
		t.Fatalf("reminders before any timer's time: %q", got)
	}
	topologytest.Advance(h, time.Second) // 00:01:00
	if got, want := values(topologytest.Output(h, reminders)), []string{"o2 after 1 events (00:01:00, last open)"}; !equal(got, want) {
		t.Fatalf("at 00:01:00 got %q, want %q (o1's first timer was replaced)", got, want)
	}
	topologytest.Consume(h, orders, "o3", Order{Event: "open"})  // due 00:02:00
	topologytest.Consume(h, orders, "o3", Order{Event: "close"}) // cancelled
	topologytest.Advance(h, 10*time.Minute)
	if got, want := values(topologytest.Output(h, reminders)), []string{"o1 after 2 events (00:01:30, last update)"}; !equal(got, want) {
		t.Fatalf("after 10 more minutes got %q, want %q (o2 fired already, o3 was cancelled)", got, want)
	}
	topologytest.Advance(h, time.Hour)
	if got := values(topologytest.Output(h, reminders)); len(got) != 0 {
		t.Fatalf("a timer fired twice: %q", got)
	}
}

// TestTimerHandlerFailures pins that a timer handler has an input handler's
// failure semantics: a failed call is retried with nothing of it applied,
// and after the retries the fire record goes to the dead-letter topic and the
// timer is gone.
func TestTimerHandlerFailures(t *testing.T) {
	calls := map[string]int{}
	h := topologytest.New(t, reminderGraph(func(key string) error {
		calls[key]++
		if key == "flaky" && calls[key] == 1 {
			return errors.New("model busy")
		}
		if key == "broken" {
			return errors.New("model gone")
		}
		return nil
	}), topologytest.Retries(2))
	topologytest.Consume(h, orders, "flaky", Order{Event: "open"})
	topologytest.Consume(h, orders, "broken", Order{Event: "open"})
	topologytest.Advance(h, time.Minute)
	if got, want := values(topologytest.Output(h, reminders)), []string{"flaky after 1 events (00:01:00, last open)"}; !equal(got, want) {
		t.Fatalf("reminders %q, want %q", got, want)
	}
	dl := topologytest.DeadLetters(h, "reminder")
	if len(dl) != 1 || dl[0].Key != "broken" || dl[0].Attempts != 3 || !strings.Contains(dl[0].Err, "model gone") ||
		string(dl[0].Headers[topology.HeaderTimerName]) != "remind" {
		t.Fatalf("dead letters %+v, want broken's fire record after 3 attempts", dl)
	}
	topologytest.Advance(h, time.Hour)
	if calls["broken"] != 3 || calls["flaky"] != 2 {
		t.Fatalf("handler calls %v, want flaky 2 and broken 3: a dead-lettered timer fired again", calls)
	}
}

var (
	sclicks   = topology.Stream[string]{Name: "s-clicks", Codec: topology.String()}
	sessions  = topology.Stream[string]{Name: "sessions", Codec: topology.String()}
	sessionAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// sessionGraph closes a user's session at stream time: 10 s after the user's
// last click, by the timestamps of the partition's records, whatever the
// wall clock says.
func sessionGraph() *topology.Graph {
	a := topology.Agent[int64]{
		Name:  "sessionizer",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(sclicks,
			func(c *topology.Context[int64], user string, _ string) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return c.SetTimer(topology.Timer{Name: "gap", At: c.Timestamp().Add(10 * time.Second), Stream: true})
			})},
		Outputs: []topology.Topic{sessions},
		OnTimer: func(c *topology.Context[int64], user string, t topology.Timer) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if c.StreamTime().Before(t.At) {
				return fmt.Errorf("stream timer at %s fired at stream time %s", t.At, c.StreamTime())
			}
			if err := c.DeleteState(); err != nil {
				return err
			}
			return topology.Emit(c, sessions, user, fmt.Sprintf("%s: %d clicks, closed at %s", user, n, t.At.UTC().Format("15:04:05")))
		},
	}
	return &topology.Graph{Name: "sessions", Sources: []topology.Topic{sclicks}, Sinks: []topology.Topic{sessions},
		Agents: []topology.AgentDecl{a}}
}

// TestStreamTimer pins stream-time timers: they fire when a record of the
// partition moves stream time past them, not by the clock, and a record that
// comes before that pushes the timer it replaces out.
func TestStreamTimer(t *testing.T) {
	h := topologytest.New(t, sessionGraph())
	at := func(s int) topologytest.ConsumeOption {
		return topologytest.WithTime(sessionAt.Add(time.Duration(s) * time.Second))
	}
	topologytest.Consume(h, sclicks, "ann", "/", at(0))
	topologytest.Consume(h, sclicks, "ann", "/a", at(5)) // gap now ends at 15
	topologytest.Consume(h, sclicks, "bob", "/", at(8))  // bob's at 18
	topologytest.Advance(h, time.Hour)                   // the wall clock does not matter
	topologytest.Consume(h, sclicks, "cid", "/", at(14))
	if got := values(topologytest.Output(h, sessions)); len(got) != 0 {
		t.Fatalf("sessions closed before stream time passed their gap: %q", got)
	}
	topologytest.Consume(h, sclicks, "cid", "/b", at(15)) // ann's gap ends
	if got, want := values(topologytest.Output(h, sessions)), []string{"ann: 2 clicks, closed at 12:00:15"}; !equal(got, want) {
		t.Fatalf("at stream time 15 s: %q, want %q", got, want)
	}
	topologytest.Consume(h, sclicks, "dan", "/", at(40))
	if got, want := values(topologytest.Output(h, sessions)), []string{
		"bob: 1 clicks, closed at 12:00:18", "cid: 2 clicks, closed at 12:00:25",
	}; !equal(got, want) {
		t.Fatalf("at stream time 40 s: %q, want %q", got, want)
	}
}

// TestTimerMisuse pins the errors of timer calls that cannot work: an agent
// without OnTimer, and a bad name, dead-letter the record even when the
// handler ignores the error.
func TestTimerMisuse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		onTimer bool
		timer   string
		want    error
	}{
		{"no timer handler", false, "t", topology.ErrNoTimers},
		{"empty name", true, "", topology.ErrTimerName},
		{"long name", true, strings.Repeat("x", topology.MaxTimerName+1), topology.ErrTimerName},
		{"bad utf-8", true, "\xff", topology.ErrTimerName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			a := topology.Agent[struct{}]{
				Name: "misuser",
				Inputs: []topology.Input[struct{}]{topology.Consume(sclicks,
					func(c *topology.Context[struct{}], _ string, _ string) error {
						got = c.SetTimer(topology.Timer{Name: tc.timer, At: c.Now()})
						return nil // ignored: the record must go to the dead-letter topic anyway
					})},
			}
			if tc.onTimer {
				a.OnTimer = func(*topology.Context[struct{}], string, topology.Timer) error { return nil }
			}
			h := topologytest.New(t, &topology.Graph{Name: "misuse", Sources: []topology.Topic{sclicks}, Agents: []topology.AgentDecl{a}})
			topologytest.Consume(h, sclicks, "k", "v")
			if !errors.Is(got, tc.want) || !errors.Is(got, topology.ErrPermanent) {
				t.Fatalf("SetTimer = %v, want %v (permanent)", got, tc.want)
			}
			if dl := topologytest.DeadLetters(h, "misuser"); len(dl) != 1 || dl[0].Attempts != 1 {
				t.Fatalf("dead letters %+v, want the record, after one attempt", dl)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTimersDeclared pins what the graph says of an agent with timers: the
// timers topic is provisioned with the agent (compacted, co-partitioned),
// described and drawn, and a topic of the same name declared otherwise is a
// conflict Validate reports.
func TestTimersDeclared(t *testing.T) {
	g := reminderGraph(nil)
	if err := g.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if d := g.Describe(); !strings.Contains(d, "    timers: reminder-timers (table, compacted, 4 partitions, codec topology.bytesCodec), fired through reminder-loop\n") {
		t.Errorf("Describe() has no timers line:\n%s", d)
	}
	if m := g.Mermaid(); !strings.Contains(m, "a_reminder == timers ==> t_reminder_timers") || !strings.Contains(m, "class t_reminder_timers timers") {
		t.Errorf("Mermaid() does not draw the timers topic:\n%s", m)
	}
	if d := g.DOT(); !strings.Contains(d, `"agent:reminder" -> "topic:reminder-timers" [label="timers"`) {
		t.Errorf("DOT() does not draw the timers topic:\n%s", d)
	}
	desc := g.Description()
	if tt, ok := desc.Topic("reminder-timers"); !ok || tt.Role != topology.RoleTimers || tt.Owner != "reminder" {
		t.Errorf("Description().Topic(reminder-timers) = %+v, %v; want role timers of reminder", tt, ok)
	}
	if a, _ := desc.Agent("reminder"); a.Timers != "reminder-timers" || a.Loop != "reminder-loop" {
		t.Errorf("Description().Agent(reminder) = %+v, want timers reminder-timers through reminder-loop", a)
	}

	clash := topology.Stream[string]{Name: topology.TimersName("reminder"), Codec: topology.String()}
	g.Agents = append(g.Agents, topology.Agent[struct{}]{
		Name: "clasher",
		Inputs: []topology.Input[struct{}]{topology.Consume(clash,
			func(*topology.Context[struct{}], string, string) error { return nil })},
	})
	g.Sources = append(g.Sources, clash)
	if err := g.Validate(); !errors.Is(err, topology.ErrTopicConflict) {
		t.Errorf("Validate() with a stream named like the timers topic = %v, want %v", err, topology.ErrTopicConflict)
	}
}
