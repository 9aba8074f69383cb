package observe

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/topology"
)

// NodeKind says what a node of a [Topology] stands for.
type NodeKind string

// The kinds of node.
const (
	NodeAgent  NodeKind = "agent"  // an agent: a consumer group
	NodeStream NodeKind = "stream" // a stream topic
	NodeTable  NodeKind = "table"  // a table's compacted changelog topic
	NodeDLQ    NodeKind = "dlq"    // an agent's dead-letter topic
	NodeTimers NodeKind = "timers" // an agent's timers topic (topology.Agent.OnTimer)
)

// Node is an agent or a topic of a [Topology], with its place in the drawing.
type Node struct {
	// ID is "agent:NAME" or "topic:NAME", unique in the topology.
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Kind NodeKind `json:"kind"`
	// External is true for a declared source or sink.
	External bool `json:"external"`
	// X, Y, W and H place the node's box in the drawing, in pixels.
	X, Y, W, H float64
}

// Edge is an arrow of a [Topology] between two node IDs. Kind is "input",
// "output", "state", "lookup", "join", "dlq" or "timers".
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
}

// Topology is the structure of a graph, as topology draws it ([topology.Graph.Drawing]):
// nodes in the order they first matter and the edges between them, laid out
// left to right like the Mermaid drawing.
type Topology struct {
	Name  string `json:"name"`
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
	// Width and Height are the size of the drawing in pixels.
	Width, Height float64
}

// Agents returns the names of the agents, in declaration order.
func (t *Topology) Agents() []string {
	var names []string
	for _, n := range t.Nodes {
		if n.Kind == NodeAgent {
			names = append(names, n.Name)
		}
	}
	return names
}

// Inputs returns the topics agent reads as a consumer group member: those of
// its input edges (not lookups or joins).
func (t *Topology) Inputs(agent string) []string {
	var topics []string
	for _, e := range t.Edges {
		if e.Kind == "input" && e.To == "agent:"+agent {
			topics = append(topics, strings.TrimPrefix(e.From, "topic:"))
		}
	}
	return topics
}

// Topics returns the names of every topic node, in order.
func (t *Topology) Topics() []string {
	var names []string
	for _, n := range t.Nodes {
		if n.Kind != NodeAgent {
			names = append(names, n.Name)
		}
	}
	return names
}

// Tables returns the names of the table topics, in order.
func (t *Topology) Tables() []string {
	var names []string
	for _, n := range t.Nodes {
		if n.Kind == NodeTable {
			names = append(names, n.Name)
		}
	}
	return names
}

// ReadTopology returns the structure of g ([topology.Graph.Drawing]), laid out
// for drawing.
func ReadTopology(g *topology.Graph) (*Topology, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil graph", ErrBadGraph)
	}
	d := g.Drawing()
	t := &Topology{Name: d.Name}
	for _, n := range d.Nodes {
		t.Nodes = append(t.Nodes, Node{ID: n.ID, Name: n.Name, Kind: NodeKind(n.Kind), External: n.External})
	}
	for _, e := range d.Edges {
		t.Edges = append(t.Edges, Edge{From: e.From, To: e.To, Kind: e.Kind})
	}
	layout(t)
	return t, nil
}
