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
	d := g.Description()
	specs := g.specs() // in d.Agents' order: for topics d has no entry of
	var b strings.Builder
	fmt.Fprintf(&b, "Topology: %s\n", orUnnamed(d.Name))
	for i, a := range d.Agents {
		sp := specs[i]
		topic := func(name string, s topicSpec) TopicDescription {
			if t, ok := d.Topic(name); ok {
				return t
			}
			return specDescription(s) // unnamed: resolve could not place it
		}
		fmt.Fprintf(&b, "  Agent: %s\n", orUnnamed(a.Name))
		fmt.Fprintf(&b, "    group:  %s\n", orUnnamed(a.Group))
		for j, name := range a.Inputs {
			t := topic(name, sp.inputs[j])
			fmt.Fprintf(&b, "    input:  %s <-- %s\n", describeTopic(t), describeWriters(t))
		}
		if a.Table != "" {
			fmt.Fprintf(&b, "    state:  %s\n", describeTopic(topic(a.Table, *sp.state)))
		}
		if a.Timers != "" {
			fmt.Fprintf(&b, "    timers: %s, fired through %s\n", describeTopic(topic(a.Timers, *sp.timers)), a.Loop)
		}
		for j, name := range a.Outputs {
			t := topic(name, sp.outputs[j])
			fmt.Fprintf(&b, "    output: %s --> %s\n", describeTopic(t), describeReaders(t))
		}
		for j, name := range a.Lookups {
			t := topic(name, sp.lookups[j])
			fmt.Fprintf(&b, "    lookup: %s <-- %s\n", describeTopic(t), describeOwner(t))
		}
		for j, name := range a.Joins {
			t := topic(name, sp.joins[j])
			fmt.Fprintf(&b, "    join:   %s <-- %s\n", describeTopic(t), describeOwner(t))
		}
		fmt.Fprintf(&b, "    dlq:    %s\n", describeTopic(topic(a.DeadLetters, sp.dlq)))
	}
	describeTopics(&b, "Sources", d, g.Sources, func(t TopicDescription) string { return "--> " + joinNames(t.Readers) })
	describeTopics(&b, "Sinks", d, g.Sinks, func(t TopicDescription) string { return "<-- " + joinNames(t.Writers) })
	return b.String()
}

func describeTopics(b *strings.Builder, title string, d Description, topics []Topic, peers func(TopicDescription) string) {
	if len(topics) == 0 {
		return
	}
	fmt.Fprintf(b, "  %s:\n", title)
	for _, s := range topics {
		if s == nil {
			continue
		}
		t, ok := d.Topic(s.TopicName())
		if !ok {
			t = specDescription(s.spec())
		}
		fmt.Fprintf(b, "    %s %s\n", describeTopic(t), peers(t))
	}
}

// specDescription describes a topic from its declaration alone, as
// declared: for one resolve could not place (it has no name).
func specDescription(s topicSpec) TopicDescription {
	return TopicDescription{Name: s.name, Kind: s.kind, Codec: shortCodec(s.codecName()), Partitions: s.partitions, Retention: s.retention}
}

// describeTopic returns t's name and settings, e.g.
// "orders (stream, 4 partitions, retention 168h, codec topology.jsonCodec[main.Order])".
func describeTopic(t TopicDescription) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s", orUnnamed(t.Name), t.Kind)
	if t.Kind == KindTable {
		b.WriteString(", compacted")
	}
	fmt.Fprintf(&b, ", %d partitions", t.Partitions)
	if t.Kind == KindStream && t.Retention > 0 {
		fmt.Fprintf(&b, ", retention %s", shortDuration(t.Retention))
	}
	fmt.Fprintf(&b, ", codec %s)", t.Codec)
	return b.String()
}

// describeWriters names who writes t: agents, and "source" for a declared source.
func describeWriters(t TopicDescription) string {
	who := t.Writers
	if t.Source {
		who = append([]string{"source"}, who...)
	}
	return joinNames(who)
}

// describeReaders names who reads t: agents, and "sink" for a declared sink.
func describeReaders(t TopicDescription) string {
	who := t.Readers
	if t.Sink {
		who = append(append([]string{}, who...), "sink")
	}
	return joinNames(who)
}

// describeOwner names the agent whose table t is, or "source" for another topology's.
func describeOwner(t TopicDescription) string {
	switch {
	case t.Owner != "" && t.Role == RoleData:
		return t.Owner
	case t.Source:
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
