package topology

import "strings"

// Drawing is the structure [Graph.Mermaid] and [Graph.DOT] draw, for tools that
// draw the graph themselves (the live page of package observe): every agent and
// topic once, in the order it first matters, and the edges between them.
type Drawing struct {
	Name  string
	Nodes []DrawingNode
	Edges []DrawingEdge
}

// DrawingNode is an agent or a topic of a [Drawing].
type DrawingNode struct {
	// ID is "agent:NAME" or "topic:NAME", unique in the drawing.
	ID   string
	Name string
	// Kind is "agent", "stream", "table", "dlq" (an agent's dead-letter topic)
	// or "timers" (an agent's timers topic, see [Agent.OnTimer]).
	Kind string
	// External is true for a declared source or sink.
	External bool
}

// DrawingEdge is an arrow between two node IDs of a [Drawing]. Kind is "input",
// "output", "state", "lookup", "join", "dlq" or "timers".
type DrawingEdge struct {
	From, To, Kind string
}

// Drawing returns the structure of g as Mermaid and DOT draw it.
func (g *Graph) Drawing() Drawing {
	d := g.drawing()
	out := Drawing{Name: d.name}
	for _, n := range d.nodes {
		kind := "stream"
		switch {
		case n.shape == shapeAgent:
			kind = "agent"
		case n.shape == shapeTable:
			kind = "table"
		case n.dlq:
			kind = "dlq"
		}
		if n.timers {
			kind = "timers"
		}
		_, name, _ := strings.Cut(n.key, ":")
		out.Nodes = append(out.Nodes, DrawingNode{ID: n.key, Name: name, Kind: kind, External: n.external})
	}
	for _, e := range d.edges {
		out.Edges = append(out.Edges, DrawingEdge{From: e.from, To: e.to, Kind: e.kind.String()})
	}
	return out
}
