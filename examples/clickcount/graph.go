package main

import (
	"sync"

	"github.com/sluicehq/sluice/topology"
)

// Click is one page view by a user.
type Click struct {
	User string `json:"user"`
	Page string `json:"page"`
}

// UserCount is a user's click count after one more click.
type UserCount struct {
	User  string `json:"user"`
	Count int64  `json:"count"`
}

var (
	// Clicks is the input: page views keyed by user.
	Clicks = topology.Stream[Click]{Name: "clicks", Codec: topology.JSON[Click]()}
	// Counts carries each user's running count.
	Counts = topology.Stream[UserCount]{Name: "click-counts", Codec: topology.JSON[UserCount]()}
)

// counter counts clicks per user in its table and emits every new count.
var counter = topology.Agent[int64]{
	Name:  "click-counter",
	State: topology.Int64(),
	Inputs: []topology.Input[int64]{
		topology.Consume(Clicks, func(c *topology.Context[int64], user string, _ Click) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if err := c.SetState(n + 1); err != nil {
				return err
			}
			return topology.Emit(c, Counts, user, UserCount{User: user, Count: n + 1})
		}),
	},
	Outputs: []topology.Topic{Counts},
}

// Board holds the latest count per user as the dashboard agent sees it.
type Board struct {
	mu     sync.Mutex
	counts map[string]int64
}

// Snapshot returns a copy of the counts.
func (b *Board) Snapshot() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int64, len(b.counts))
	for k, v := range b.counts {
		out[k] = v
	}
	return out
}

// dashboard returns a stateless agent that keeps the latest counts in b: a sink
// on the side of this process, read by the printer.
func dashboard(b *Board) topology.Agent[struct{}] {
	return topology.Agent[struct{}]{
		Name: "click-dashboard",
		Inputs: []topology.Input[struct{}]{
			topology.Consume(Counts, func(_ *topology.Context[struct{}], user string, uc UserCount) error {
				b.mu.Lock()
				defer b.mu.Unlock()
				if uc.Count > b.counts[user] { // counts only grow; a replay must not go back
					b.counts[user] = uc.Count
				}
				return nil
			}),
		},
	}
}

// Graph returns the click-count topology with its dashboard writing to b.
func Graph(b *Board) *topology.Graph {
	if b.counts == nil {
		b.counts = map[string]int64{}
	}
	return &topology.Graph{
		Name:    "clickcount",
		Sources: []topology.Topic{Clicks},
		Agents:  []topology.AgentDecl{counter, dashboard(b)},
	}
}
