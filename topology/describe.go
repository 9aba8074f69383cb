package topology

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Describe returns a text description of the graph in the spirit of Kafka Streams'
// TopologyDescription: the graph's name, then for each agent, in declaration
// order, its consumer group, inputs, table, outputs, lookups, joins and
// dead-letter topic, then the sources and sinks. Each topic is shown with the
// settings it resolves to (the graph's defaults applied) and codec, and with the
// agents on its other side: "<--" names who writes an input, owns a looked-up
// table or is a source, "-->" who reads an output or that it is a sink.
//
// Describe does not validate: an invalid graph is described as far as it can
// be, with "nobody" where a topic lacks a writer or reader (see [Graph.Validate]).
// The output is deterministic and meant for people and golden files; its format
// may change.
func (g *Graph) Describe() string {
	r := g.resolve()
	var b strings.Builder
	fmt.Fprintf(&b, "Topology: %s\n", orUnnamed(g.Name))
	for _, a := range r.agents {
		fmt.Fprintf(&b, "  Agent: %s\n", orUnnamed(a.name))
		fmt.Fprintf(&b, "    group:  %s\n", orUnnamed(a.group))
		for _, s := range a.inputs {
			t := r.topicOf(s)
			fmt.Fprintf(&b, "    input:  %s <-- %s\n", t.describe(), describeWriters(t))
		}
		if a.state != nil {
			fmt.Fprintf(&b, "    state:  %s\n", r.topicOf(*a.state).describe())
		}
		if a.timers != nil {
			fmt.Fprintf(&b, "    timers: %s, fired through %s\n", r.topicOf(*a.timers).describe(), a.loop.name)
		}
		for _, s := range a.outputs {
			t := r.topicOf(s)
			fmt.Fprintf(&b, "    output: %s --> %s\n", t.describe(), describeReaders(t))
		}
		for _, s := range a.lookups {
			t := r.topicOf(s)
			fmt.Fprintf(&b, "    lookup: %s <-- %s\n", t.describe(), describeOwner(t))
		}
		for _, s := range a.joins {
			t := r.topicOf(s)
			fmt.Fprintf(&b, "    join:   %s <-- %s\n", t.describe(), describeOwner(t))
		}
		fmt.Fprintf(&b, "    dlq:    %s\n", r.topicOf(a.dlq).describe())
	}
	describeTopics(&b, "Sources", r, g.Sources, func(t *topicInfo) string { return "--> " + joinNames(t.readers) })
	describeTopics(&b, "Sinks", r, g.Sinks, func(t *topicInfo) string { return "<-- " + joinNames(t.writers) })
	return b.String()
}

func describeTopics(b *strings.Builder, title string, r *resolved, topics []Topic, peers func(*topicInfo) string) {
	if len(topics) == 0 {
		return
	}
	fmt.Fprintf(b, "  %s:\n", title)
	for _, s := range topics {
		if s == nil {
			continue
		}
		t := r.topicOf(s.spec())
		fmt.Fprintf(b, "    %s %s\n", t.describe(), peers(t))
	}
}

// topicOf returns the resolved form of s, or one made from s alone if resolve could
// not place it (it has no name).
func (r *resolved) topicOf(s topicSpec) *topicInfo {
	if t, ok := r.topics[s.name]; ok {
		return t
	}
	return &topicInfo{name: s.name, kind: s.kind, codec: s.codecName(), partitions: s.partitions, retention: s.retention}
}

// describe returns t's name and settings, e.g.
// "orders (stream, 4 partitions, retention 168h, codec topology.jsonCodec[main.Order])".
func (t *topicInfo) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s", orUnnamed(t.name), t.kind)
	if t.kind == KindTable {
		b.WriteString(", compacted")
	}
	fmt.Fprintf(&b, ", %d partitions", t.partitions)
	if t.kind == KindStream && t.retention > 0 {
		fmt.Fprintf(&b, ", retention %s", shortDuration(t.retention))
	}
	fmt.Fprintf(&b, ", codec %s)", shortCodec(t.codec))
	return b.String()
}

// describeWriters names who writes t: agents, and "source" for a declared source.
func describeWriters(t *topicInfo) string {
	who := t.writers
	if t.source {
		who = append([]string{"source"}, who...)
	}
	return joinNames(who)
}

// describeReaders names who reads t: agents, and "sink" for a declared sink.
func describeReaders(t *topicInfo) string {
	who := t.readers
	if t.sink {
		who = append(append([]string{}, who...), "sink")
	}
	return joinNames(who)
}

// describeOwner names the agent whose table t is, or "source" for another topology's.
func describeOwner(t *topicInfo) string {
	switch {
	case t.owner != "":
		return t.owner
	case t.source:
		return "source"
	}
	return "nobody"
}

func joinNames(names []string) string {
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

func orUnnamed(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

// importPaths matches the import path before a package name in a type name:
// "github.com/acme/app/" in "topology.jsonCodec[github.com/acme/app/events.Click]".
var importPaths = regexp.MustCompile(`(?:[\w.~-]+/)+`)

// shortCodec returns a codec's type name without import paths, which make it long
// and say little: "topology.jsonCodec[events.Click]".
func shortCodec(name string) string {
	if name == noCodec {
		return "none"
	}
	return importPaths.ReplaceAllString(name, "")
}

// shortDuration formats d without zero minutes and seconds: "168h", "1h30m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
