package topology

import (
	"fmt"
	"strconv"
	"strings"
)

// Mermaid returns the graph as a Mermaid flowchart (flowchart LR), to paste into
// Markdown. Streams are parallelograms, tables cylinders and agents rectangles;
// an arrow runs from each input stream to its agent and from each agent to the
// streams it may emit or route to; a thick arrow marked "state" from an agent to
// its table, and one marked "timers" to its timers topic; dashed arrows marked
// "lookup" or "join" from a table to the agents that read it, and marked "dlq"
// from an agent to its dead-letter topic. Dead-letter topics have class dlq,
// timers topics class timers, sources and sinks class external.
//
// Node ids are made from topic and agent names ("t_queue_b" for topic "queue-b",
// "a_intake" for agent "intake"), unique and safe for Mermaid; the names are the
// labels. Like [Graph.Describe], Mermaid does not validate and is deterministic.
func (g *Graph) Mermaid() string {
	d := g.drawing()
	ids := mermaidIDs(d.nodes)
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	fmt.Fprintf(&b, "    %%%% topology: %s\n", orUnnamed(d.name))
	var dlq, timers, external []string
	for _, n := range d.nodes {
		label := mermaidLabel(n.label)
		switch n.shape {
		case shapeAgent:
			fmt.Fprintf(&b, "    %s[%s]\n", ids[n.key], label)
		case shapeTable:
			fmt.Fprintf(&b, "    %s[(%s)]\n", ids[n.key], label)
		default:
			fmt.Fprintf(&b, "    %s[/%s/]\n", ids[n.key], label)
		}
		if n.dlq {
			dlq = append(dlq, ids[n.key])
		}
		if n.timers {
			timers = append(timers, ids[n.key])
		}
		if n.external {
			external = append(external, ids[n.key])
		}
	}
	for _, e := range d.edges {
		from, to := ids[e.from], ids[e.to]
		switch e.kind {
		case edgeState, edgeTimers:
			fmt.Fprintf(&b, "    %s == %s ==> %s\n", from, e.kind, to)
		case edgeLookup, edgeJoin, edgeDLQ:
			fmt.Fprintf(&b, "    %s -. %s .-> %s\n", from, e.kind, to)
		default:
			fmt.Fprintf(&b, "    %s --> %s\n", from, to)
		}
	}
	if len(dlq) > 0 {
		b.WriteString("    classDef dlq fill:#fee,stroke:#c33\n")
		fmt.Fprintf(&b, "    class %s dlq\n", strings.Join(dlq, ","))
	}
	if len(timers) > 0 {
		b.WriteString("    classDef timers fill:#fff7e0,stroke:#b7791f\n")
		fmt.Fprintf(&b, "    class %s timers\n", strings.Join(timers, ","))
	}
	if len(external) > 0 {
		b.WriteString("    classDef external stroke-width:3px\n")
		fmt.Fprintf(&b, "    class %s external\n", strings.Join(external, ","))
	}
	return b.String()
}

// DOT returns the graph in the Graphviz DOT language, with the content and
// conventions of [Graph.Mermaid]; render it with, for example,
// `dot -Tsvg -o graph.svg`. Node ids are quoted "topic:NAME" and "agent:NAME";
// sources and sinks have a double border.
func (g *Graph) DOT() string {
	d := g.drawing()
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(d.name))
	b.WriteString("\trankdir=LR;\n")
	b.WriteString("\tnode [fontname=\"Helvetica\"];\n")
	b.WriteString("\tedge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range d.nodes {
		attrs := []string{"label=" + dotQuote(n.label)}
		switch n.shape {
		case shapeAgent:
			attrs = append(attrs, "shape=box", "style=rounded")
		case shapeTable:
			attrs = append(attrs, "shape=cylinder")
		default:
			attrs = append(attrs, "shape=parallelogram")
		}
		if n.dlq {
			attrs = append(attrs, "style=filled", `fillcolor="#ffeeee"`, `color="#cc3333"`)
		}
		if n.timers {
			attrs = append(attrs, "style=filled", `fillcolor="#fff7e0"`, `color="#b7791f"`)
		}
		if n.external {
			attrs = append(attrs, "peripheries=2")
		}
		fmt.Fprintf(&b, "\t%s [%s];\n", dotQuote(n.key), strings.Join(attrs, ", "))
	}
	for _, e := range d.edges {
		var attrs string
		switch e.kind {
		case edgeState:
			attrs = ` [label="state", style=bold]`
		case edgeTimers:
			attrs = ` [label="timers", style=bold, color="#b7791f"]`
		case edgeLookup, edgeJoin:
			attrs = fmt.Sprintf(` [label=%q, style=dashed]`, e.kind.String())
		case edgeDLQ:
			attrs = ` [label="dlq", style=dashed, color="#cc3333"]`
		}
		fmt.Fprintf(&b, "\t%s -> %s%s;\n", dotQuote(e.from), dotQuote(e.to), attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

// drawing is what Mermaid and DOT draw: nodes in the order they first matter (an
// agent's inputs, the agent, then what it writes and reads), edges per agent.
type drawing struct {
	name  string
	nodes []drawNode
	edges []drawEdge
}

type drawNode struct {
	key      string // "topic:NAME" or "agent:NAME"
	label    string
	shape    drawShape
	dlq      bool
	timers   bool // an agent's timers topic
	external bool // a source or a sink
}

type drawShape int

const (
	shapeStream drawShape = iota
	shapeTable
	shapeAgent
)

type drawEdge struct {
	from, to string // node keys
	kind     edgeKind
}

type edgeKind int

const (
	edgeInput edgeKind = iota
	edgeOutput
	edgeState
	edgeLookup
	edgeJoin
	edgeDLQ
	edgeTimers
)

func (k edgeKind) String() string {
	return [...]string{"input", "output", "state", "lookup", "join", "dlq", "timers"}[k]
}

func (g *Graph) drawing() drawing {
	desc := g.Description()
	d := drawing{name: desc.Name}
	declared := map[string]bool{}
	topic := func(name string) string {
		key := "topic:" + name
		if !declared[key] {
			declared[key] = true
			t, _ := desc.Topic(name) // a topic without a name is drawn as a stream ""
			n := drawNode{key: key, label: orUnnamed(name), dlq: t.Role == RoleDeadLetters, timers: t.Role == RoleTimers, external: t.Source || t.Sink}
			if t.Kind == KindTable {
				n.shape = shapeTable
			}
			d.nodes = append(d.nodes, n)
		}
		return key
	}
	drawn := map[drawEdge]bool{}
	edge := func(from, to string, kind edgeKind) {
		e := drawEdge{from: from, to: to, kind: kind}
		if !drawn[e] {
			drawn[e] = true
			d.edges = append(d.edges, e)
		}
	}
	for _, a := range desc.Agents {
		inputs := make([]string, len(a.Inputs))
		for i, name := range a.Inputs {
			inputs[i] = topic(name)
		}
		key := "agent:" + a.Name
		if !declared[key] {
			declared[key] = true
			d.nodes = append(d.nodes, drawNode{key: key, label: orUnnamed(a.Name), shape: shapeAgent})
		}
		for _, in := range inputs {
			edge(in, key, edgeInput)
		}
		if a.Table != "" {
			edge(key, topic(a.Table), edgeState)
		}
		if a.Timers != "" {
			edge(key, topic(a.Timers), edgeTimers)
		}
		for _, name := range a.Outputs {
			edge(key, topic(name), edgeOutput)
		}
		for _, name := range a.Lookups {
			edge(topic(name), key, edgeLookup)
		}
		for _, name := range a.Joins {
			edge(topic(name), key, edgeJoin)
		}
		edge(key, topic(a.DeadLetters), edgeDLQ)
	}
	for _, t := range desc.Topics {
		if t.Source || t.Sink {
			topic(t.Name)
		}
	}
	return d
}

// mermaidIDs gives every node an id Mermaid accepts: a prefix ("t_" for topics,
// "a_" for agents, which also keeps ids clear of keywords such as "end"), then
// the name with every character but ASCII letters, digits and '_' replaced by
// '_', then, if two names map to one id, a suffix "_2", "_3", ... in node order.
func mermaidIDs(nodes []drawNode) map[string]string {
	ids := make(map[string]string, len(nodes))
	used := map[string]bool{}
	for _, n := range nodes {
		kind, name, _ := strings.Cut(n.key, ":")
		base := kind[:1] + "_" + strings.Map(func(r rune) rune {
			if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				return r
			}
			return '_'
		}, name)
		id := base
		for i := 2; used[id]; i++ {
			id = base + "_" + strconv.Itoa(i)
		}
		used[id] = true
		ids[n.key] = id
	}
	return ids
}

// mermaidLabel quotes s as a Mermaid label; '"' has no escape inside one but the
// entity #quot;, '#' would start an entity, and a line break would end the
// statement.
func mermaidLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, "#", "#35;")
	return `"` + strings.ReplaceAll(s, `"`, "#quot;") + `"`
}

// dotQuote quotes s as a DOT string: only '"' needs a backslash, and a backslash
// doubled stays a literal backslash in labels.
func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
