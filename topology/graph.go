package topology

import (
	"time"
)

// Default topic settings, used where neither a topic nor the graph sets one.
const (
	// DefaultPartitions is the partition count of a topic that sets none.
	DefaultPartitions = 4
	// DefaultRetention is the retention of a stream that sets none (Kafka's default).
	DefaultRetention = 7 * 24 * time.Hour
)

// Graph is a topology: agents, and the streams they exchange with the world
// outside it. A Graph is a plain value; declare it, then [Graph.Validate] it,
// draw it, provision its topics and [Run] it. Its methods do not modify it.
type Graph struct {
	// Name names the topology in descriptions and drawings.
	Name string
	// Application, if set, is the graph's application id, as Kafka Streams'
	// application.id: it namespaces every name derived from an agent's, so
	// that graphs whose agents share names can share a cluster. With
	// Application "shop", agent "counter" runs as consumer group
	// "shop.counter", keeps its state in the changelog "shop.counter-table"
	// (locally in DataDir/state/shop.counter), writes dead letters to
	// "shop.counter-dlq", passes asynchronous results and timer fires through
	// "shop.counter-loop", keeps timers in "shop.counter-timers", and in
	// exactly-once mode commits as transactional.id
	// "sluice-shop.counter-INSTANCE" (see [Graph.Names]). Streams the graph
	// declares keep their names. "" (the default) keeps the agent's own name
	// for all of these, as before application ids. It holds 1 to 200 of A-Z,
	// a-z, 0-9, '_' and '-' ([ErrApplication] otherwise). A [View] or an
	// [ExternalTable] of such a graph's table names it with [Table.In].
	Application string
	// Sources are topics written outside the graph that its agents read: input
	// streams fed by producers or emitters, and tables of other topologies.
	Sources []Topic
	// Sinks are streams the graph writes for readers outside it.
	Sinks []Topic
	// Agents are the graph's agents.
	Agents []AgentDecl
	// Partitions is the partition count of topics that set none; 0 means
	// DefaultPartitions.
	Partitions int32
	// Retention is the retention of streams that set none; 0 means
	// DefaultRetention.
	Retention time.Duration
}

func (g *Graph) partitions() int32 {
	if g.Partitions > 0 {
		return g.Partitions
	}
	return DefaultPartitions
}

func (g *Graph) retention() time.Duration {
	if g.Retention > 0 {
		return g.Retention
	}
	return DefaultRetention
}

// specs returns the untyped form of every agent, in declaration order.
func (g *Graph) specs() []agentSpec {
	out := make([]agentSpec, 0, len(g.Agents))
	for _, a := range g.Agents {
		if a != nil {
			out = append(out, a.decl())
		}
	}
	namespace(g.Application, out)
	return out
}
