package observe

import (
	"fmt"

	"github.com/sluicehq/sluice/topology"
)

// nodeKind says what a node of a [graphView] stands for.
type nodeKind string

// The kinds of node.
const (
	nodeAgent  nodeKind = "agent"  // an agent: a consumer group
	nodeStream nodeKind = "stream" // a stream topic
	nodeTable  nodeKind = "table"  // a table's compacted changelog topic
	nodeDLQ    nodeKind = "dlq"    // an agent's dead-letter topic
	nodeTimers nodeKind = "timers" // an agent's timers topic (topology.Agent.OnTimer)
)

// node is an agent or a topic of a [graphView], with its place in the drawing.
type node struct {
	// ID is "agent:NAME" or "topic:NAME", unique in the graph; the page's
	// script keys its figures by it.
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Kind nodeKind `json:"kind"`
	// External is true for a declared source or sink.
	External bool `json:"external"`
	// X, Y, W and H place the node's box in the drawing, in pixels.
	X, Y, W, H float64
	// band is the band of columns the node is in (see layout).
	band int
}

// edge is an arrow of a [graphView] between two node IDs. Kind is "input",
// "output", "state", "lookup", "join", "dlq" or "timers".
type edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
}

// graphView is what the page draws of a graph: nodes in the order they first
// matter (an agent's inputs, the agent, then what it writes and reads, as
// topology's Mermaid drawing has them) and the edges between them, laid out
// left to right; and the graph's [topology.Description], which answers every
// question about it.
type graphView struct {
	Name  string `json:"name"`
	Nodes []node `json:"nodes"`
	Edges []edge `json:"edges"`
	// Width and Height are the size of the drawing in pixels.
	Width, Height float64

	desc topology.Description
}

// agents returns the names of the agents, in declaration order.
func (v *graphView) agents() []string {
	var names []string
	for _, a := range v.desc.Agents {
		names = append(names, a.Name)
	}
	return names
}

// topics returns the names of the topics drawn, in drawing order.
func (v *graphView) topics() []string {
	var names []string
	for _, n := range v.Nodes {
		if n.Kind != nodeAgent {
			names = append(names, n.Name)
		}
	}
	return names
}

// tables returns the names of the graph's tables (not timers topics), in
// declaration order.
func (v *graphView) tables() []string {
	var names []string
	for _, t := range v.desc.Topics {
		if t.Kind == topology.KindTable && t.Role == topology.RoleData {
			names = append(names, t.Name)
		}
	}
	return names
}

// readGraph returns what the page draws of g ([topology.Graph.Description]),
// laid out.
func readGraph(g *topology.Graph) (*graphView, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil graph", ErrBadGraph)
	}
	d := g.Description()
	v := &graphView{Name: d.Name, desc: d}
	declared := map[string]bool{}
	topic := func(name string) string {
		id := "topic:" + name
		if !declared[id] {
			declared[id] = true
			t, _ := d.Topic(name)
			n := node{ID: id, Name: name, Kind: nodeStream, External: t.Source || t.Sink}
			switch {
			case t.Role == topology.RoleTimers:
				n.Kind = nodeTimers
			case t.Role == topology.RoleDeadLetters:
				n.Kind = nodeDLQ
			case t.Kind == topology.KindTable:
				n.Kind = nodeTable
			}
			v.Nodes = append(v.Nodes, n)
		}
		return id
	}
	drawn := map[edge]bool{}
	arrow := func(from, to, kind string) {
		e := edge{From: from, To: to, Kind: kind}
		if !drawn[e] {
			drawn[e] = true
			v.Edges = append(v.Edges, e)
		}
	}
	for _, a := range d.Agents {
		var inputs []string
		for _, name := range a.Inputs {
			inputs = append(inputs, topic(name))
		}
		id := "agent:" + a.Name
		if !declared[id] {
			declared[id] = true
			v.Nodes = append(v.Nodes, node{ID: id, Name: a.Name, Kind: nodeAgent})
		}
		for _, in := range inputs {
			arrow(in, id, "input")
		}
		if a.Table != "" {
			arrow(id, topic(a.Table), "state")
		}
		if a.Timers != "" {
			arrow(id, topic(a.Timers), "timers")
		}
		for _, name := range a.Outputs {
			arrow(id, topic(name), "output")
		}
		for _, name := range a.Lookups {
			arrow(topic(name), id, "lookup")
		}
		for _, name := range a.Joins {
			arrow(topic(name), id, "join")
		}
		arrow(id, topic(a.DeadLetters), "dlq")
	}
	for _, t := range d.Topics {
		if t.Source || t.Sink {
			topic(t.Name)
		}
	}
	layout(v)
	return v, nil
}
