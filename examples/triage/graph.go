package main

import (
	"slices"

	"github.com/sluicehq/sluice/topology"
)

// Ticket is a support ticket on its way through the graph. Each agent that
// handles it appends its name to Path, so the resolved ticket says where it went.
type Ticket struct {
	ID       string   `json:"id"`
	Priority string   `json:"priority"` // "high", "low", or anything else
	Text     string   `json:"text"`
	Path     []string `json:"path,omitempty"`
	// Reason says why a ticket skipped the queues, "" if it did not.
	Reason string `json:"reason,omitempty"`
	// Seen is how many times triage has seen a ticket with this ID, this time
	// included: more than 1 for a ticket sent again, or replayed after a crash.
	Seen int64 `json:"seen,omitempty"`
}

// ReasonUnknownPriority is the Reason of a ticket whose priority is neither
// "high" nor "low": triage resolves it at once rather than drop it.
const ReasonUnknownPriority = "unknown priority"

var (
	// Tickets is the input: new tickets, keyed by ticket ID.
	Tickets = topology.Stream[Ticket]{Name: "tickets", Codec: topology.JSON[Ticket]()}
	// Urgent is the queue of high-priority tickets.
	Urgent = topology.Stream[Ticket]{Name: "urgent", Codec: topology.JSON[Ticket]()}
	// Normal is the queue of low-priority tickets.
	Normal = topology.Stream[Ticket]{Name: "normal", Codec: topology.JSON[Ticket]()}
	// Resolved is the output: every ticket, once handled.
	Resolved = topology.Stream[Ticket]{Name: "resolved", Codec: topology.JSON[Ticket]()}
)

// triage counts the sightings of each ticket in its table and routes the ticket
// by priority: high to urgent, low to normal, anything else straight to resolved.
var triage = topology.Agent[int64]{
	Name:  "triage",
	State: topology.Int64(),
	Inputs: []topology.Input[int64]{
		topology.Consume(Tickets, func(c *topology.Context[int64], id string, t Ticket) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if err := c.SetState(n + 1); err != nil {
				return err
			}
			t.Seen = n + 1
			t.Path = append(slices.Clip(t.Path), "triage")
			switch t.Priority {
			case "high":
				return topology.Emit(c, Urgent, id, t)
			case "low":
				return topology.Emit(c, Normal, id, t)
			default:
				t.Reason = ReasonUnknownPriority
				return topology.Emit(c, Resolved, id, t)
			}
		}),
	},
	Outputs: []topology.Topic{Urgent, Normal, Resolved},
}

// queue returns a stateless agent named name that reads in, appends its name to
// each ticket's Path and resolves the ticket.
func queue(name string, in topology.Stream[Ticket]) topology.Agent[struct{}] {
	return topology.Agent[struct{}]{
		Name: name,
		Inputs: []topology.Input[struct{}]{
			topology.Consume(in, func(c *topology.Context[struct{}], id string, t Ticket) error {
				t.Path = append(slices.Clip(t.Path), name)
				return topology.Emit(c, Resolved, id, t)
			}),
		},
		Outputs: []topology.Topic{Resolved},
	}
}

// Graph returns the triage topology: triage routes each ticket to the urgent or
// normal agent, which resolve it, or resolves it itself.
func Graph() *topology.Graph {
	return &topology.Graph{
		Name:    "triage",
		Sources: []topology.Topic{Tickets},
		Sinks:   []topology.Topic{Resolved},
		Agents:  []topology.AgentDecl{triage, queue("urgent", Urgent), queue("normal", Normal)},
	}
}
