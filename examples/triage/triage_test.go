package main

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/topology/topologytest"
)

// TestRoutesByPriority pins the routing: high tickets go through urgent, low ones
// through normal, and any other priority is resolved by triage with a reason.
// Every ticket reaches resolved once, and none is dead-lettered.
func TestRoutesByPriority(t *testing.T) {
	for _, tc := range []struct {
		priority string
		path     []string
		reason   string
	}{
		{priority: "high", path: []string{"triage", "urgent"}},
		{priority: "low", path: []string{"triage", "normal"}},
		{priority: "medium", path: []string{"triage"}, reason: ReasonUnknownPriority},
		{priority: "", path: []string{"triage"}, reason: ReasonUnknownPriority},
		{priority: "HIGH", path: []string{"triage"}, reason: ReasonUnknownPriority},
	} {
		t.Run("priority="+tc.priority, func(t *testing.T) {
			h := topologytest.New(t, Graph())
			topologytest.Consume(h, Tickets, "t1", Ticket{ID: "t1", Priority: tc.priority, Text: "printer on fire"})

			out := topologytest.Output(h, Resolved)
			if len(out) != 1 {
				t.Fatalf("resolved %d records, want 1: %+v", len(out), out)
			}
			got := out[0]
			if got.Key != "t1" || got.Value.ID != "t1" || got.Value.Text != "printer on fire" {
				t.Errorf("resolved %q %+v, want the ticket t1 as sent", got.Key, got.Value)
			}
			if !slices.Equal(got.Value.Path, tc.path) || got.Value.Reason != tc.reason {
				t.Errorf("path %q reason %q, want %q reason %q", got.Value.Path, got.Value.Reason, tc.path, tc.reason)
			}
			urgent, normal := len(topologytest.Output(h, Urgent)), len(topologytest.Output(h, Normal))
			wantUrgent, wantNormal := 0, 0
			switch tc.priority {
			case "high":
				wantUrgent = 1
			case "low":
				wantNormal = 1
			}
			if urgent != wantUrgent || normal != wantNormal {
				t.Errorf("urgent got %d and normal %d tickets, want %d and %d", urgent, normal, wantUrgent, wantNormal)
			}
			for _, agent := range []string{"triage", "urgent", "normal"} {
				if dl := topologytest.DeadLetters(h, agent); len(dl) > 0 {
					t.Errorf("%s dead-lettered %+v", agent, dl)
				}
			}
		})
	}
}

// TestCountsSightings pins triage's state: it counts the tickets of each ID, and
// a ticket sent again says how many times it was seen.
func TestCountsSightings(t *testing.T) {
	h := topologytest.New(t, Graph())
	topologytest.Consume(h, Tickets, "t1", Ticket{ID: "t1", Priority: "low"})
	topologytest.Consume(h, Tickets, "t2", Ticket{ID: "t2", Priority: "high"})
	topologytest.Consume(h, Tickets, "t1", Ticket{ID: "t1", Priority: "low"})

	for id, want := range map[string]int64{"t1": 2, "t2": 1, "t3": 0} {
		if n, _ := topologytest.TableValue(h, triage.Table(), id); n != want {
			t.Errorf("triage's count of %s = %d, want %d", id, n, want)
		}
	}
	var seen []int64
	for _, r := range topologytest.Output(h, Resolved) {
		if r.Key == "t1" {
			seen = append(seen, r.Value.Seen)
		}
	}
	if !slices.Equal(seen, []int64{1, 2}) {
		t.Errorf("resolved t1 with Seen %v, want [1 2]", seen)
	}
}

// TestUnreadableTicket pins that a ticket triage cannot decode is dead-lettered,
// not dropped, and that triage goes on with the next one.
func TestUnreadableTicket(t *testing.T) {
	h := topologytest.New(t, Graph())
	topologytest.ConsumeRaw(h, Tickets.Name, "bad", []byte(`{"id":`))
	topologytest.Consume(h, Tickets, "t1", Ticket{ID: "t1", Priority: "high"})

	dl := topologytest.DeadLetters(h, "triage")
	if len(dl) != 1 || dl[0].Key != "bad" || dl[0].Cause != "decode" {
		t.Errorf("triage dead letters = %+v, want the record bad with cause decode", dl)
	}
	if out := topologytest.Output(h, Resolved); len(out) != 1 || out[0].Key != "t1" {
		t.Errorf("resolved %+v, want t1 only", out)
	}
}
