package topology

import (
	"fmt"
	"time"
)

// topicInfo is one topic of a graph with the settings it resolves to and who uses it.
type topicInfo struct {
	name       string
	kind       Kind
	codec      string
	partitions int32
	retention  time.Duration // streams only
	source     bool
	sink       bool
	owner      string   // the agent whose table this is
	writers    []string // agents that may emit to it
	readers    []string // agents that read it as input, lookup or join
	dlq        bool     // an agent's dead-letter topic
	timersOf   string   // the agent whose timers topic this is
}

// resolved is a graph with every topic resolved, in first-seen order.
type resolved struct {
	agents []agentSpec
	topics map[string]*topicInfo
	order  []string
	errs   []error
}

// resolve collects every topic of g, applying defaults: a table has the partition
// count of its agent's first input. Conflicting declarations become errors.
func (g *Graph) resolve() *resolved {
	r := &resolved{agents: g.specs(), topics: map[string]*topicInfo{}}
	// An agent's table has its inputs' partition count unless declared otherwise.
	tableParts := map[string]int32{}
	for _, a := range r.agents {
		if a.state != nil && a.state.partitions == 0 && len(a.inputs) > 0 {
			tableParts[a.state.name] = g.partsOf(a.inputs[0])
		}
	}
	add := func(s topicSpec, who string) *topicInfo {
		if s.name == "" {
			r.errs = append(r.errs, fmt.Errorf("%s: topic: %w", who, ErrNoName))
			return &topicInfo{}
		}
		if s.codec == nil {
			r.errs = append(r.errs, fmt.Errorf("%s: topic %q: %w", who, s.name, ErrNoCodec))
		}
		parts := g.partsOf(s)
		if s.kind == KindTable && s.partitions == 0 {
			if p, ok := tableParts[s.name]; ok {
				parts = p
			}
		}
		t, ok := r.topics[s.name]
		if !ok {
			t = &topicInfo{name: s.name, kind: s.kind, codec: s.codecName(), partitions: parts}
			if s.kind == KindStream {
				t.retention = g.retention()
				if s.retention > 0 {
					t.retention = s.retention
				}
			}
			r.topics[s.name] = t
			r.order = append(r.order, s.name)
			return t
		}
		if t.codec == noCodec && s.codec != nil {
			// The first declaration lacked a codec (reported above as ErrNoCodec);
			// compare later ones with the first that has one, not with "none".
			t.codec = s.codecName()
		}
		switch {
		case t.kind != s.kind:
			r.errs = append(r.errs, fmt.Errorf("%s: topic %q declared as %s and as %s: %w", who, s.name, t.kind, s.kind, ErrTopicConflict))
		case s.codec != nil && t.codec != s.codecName():
			r.errs = append(r.errs, fmt.Errorf("%s: topic %q has codec %s here and %s elsewhere: %w", who, s.name, s.codecName(), t.codec, ErrCodecMismatch))
		case t.partitions != parts:
			r.errs = append(r.errs, fmt.Errorf("%s: topic %q declared with %d and %d partitions: %w", who, s.name, parts, t.partitions, ErrTopicConflict))
		}
		return t
	}
	for _, a := range r.agents {
		who := a.String()
		for _, s := range a.inputs {
			t := add(s, who)
			t.readers = appendOnce(t.readers, a.name)
		}
		for _, s := range append(append([]topicSpec{}, a.lookups...), a.joins...) {
			t := add(s, who)
			t.readers = appendOnce(t.readers, a.name)
		}
		for _, s := range a.outputs {
			t := add(s, who)
			t.writers = appendOnce(t.writers, a.name)
		}
		if a.state != nil {
			t := add(*a.state, who)
			t.owner = a.name
		}
		if a.loop != nil {
			t := add(*a.loop, who)
			t.readers = appendOnce(t.readers, a.name)
			t.writers = appendOnce(t.writers, a.name)
		}
		if a.timers != nil {
			t := add(*a.timers, who)
			t.timersOf = a.name
		}
		t := add(a.dlq, who)
		t.dlq = true
		t.writers = appendOnce(t.writers, a.name)
	}
	for _, s := range g.Sources {
		if s != nil {
			add(s.spec(), "source").source = true
		}
	}
	for _, s := range g.Sinks {
		if s != nil {
			add(s.spec(), "sink").sink = true
		}
	}
	return r
}

// noCodec is topicInfo.codec of a topic declared without a codec: the %T of nil.
const noCodec = "<nil>"

func (g *Graph) partsOf(s topicSpec) int32 {
	if s.partitions > 0 {
		return s.partitions
	}
	return g.partitions()
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
