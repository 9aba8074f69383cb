package topology

import (
	"fmt"
	"time"
)

// Description is the structure of a [Graph], typed, for tools that show or
// inspect it (the live page of package observe, the command line's describe
// and graph commands, [Graph.Mermaid] and [Graph.DOT] all build on it): every
// agent with the topics it reads and writes, and every topic with the
// settings it resolves to, who uses it and a function that decodes its
// values. Get one with [Graph.Description].
type Description struct {
	// Name is the graph's name.
	Name string
	// Agents are the graph's agents, in declaration order.
	Agents []AgentDescription
	// Topics are every topic an agent or the graph declares, each once, in
	// the order first declared: an agent's inputs, lookups, joins, outputs,
	// table, loop, timers and dead-letter topic, agent by agent, then the
	// graph's sources and sinks.
	Topics []TopicDescription
}

// AgentDescription is one agent of a [Description]. Topics are named; look
// them up with [Description.Topic].
type AgentDescription struct {
	// Name is the agent's name ([Agent.Name]).
	Name string
	// Group is the agent's consumer group.
	Group string
	// Inputs are the streams the agent reads as a consumer group member.
	Inputs []string
	// Async is true when an input of the agent is asynchronous ([ConsumeAsync]).
	Async bool
	// Outputs are the topics the agent may emit or route to.
	Outputs []string
	// Lookups and Joins are tables the agent reads by any key and by the
	// record's key.
	Lookups, Joins []string
	// Table is the agent's state changelog ([TableName]); "" for a stateless agent.
	Table string
	// Timers is the agent's timers topic ([TimersName]); "" without [Agent.OnTimer].
	Timers string
	// Loop is the agent's loop topic ([LoopName]), through which its
	// asynchronous results and timers pass; "" when it has neither.
	Loop string
	// DeadLetters is the agent's dead-letter topic ([DeadLetterName]).
	DeadLetters string
}

// Role says what a topic of a [Description] is for.
type Role int

const (
	// RoleData is a stream or table declared in the graph: an input, an
	// output, an agent's table, a source or a sink.
	RoleData Role = iota
	// RoleDeadLetters is an agent's dead-letter topic.
	RoleDeadLetters
	// RoleTimers is an agent's timers topic.
	RoleTimers
	// RoleLoop is an agent's loop topic.
	RoleLoop
)

// String returns "data", "dead letters", "timers" or "loop".
func (r Role) String() string {
	switch r {
	case RoleDeadLetters:
		return "dead letters"
	case RoleTimers:
		return "timers"
	case RoleLoop:
		return "loop"
	}
	return "data"
}

// TopicDescription is one topic of a [Description].
type TopicDescription struct {
	Name string
	// Kind is KindStream or KindTable.
	Kind Kind
	// Role says what the topic is for; Owner names the agent whose table,
	// dead-letter, timers or loop topic it is ("" for a stream, or a table of
	// another topology).
	Role  Role
	Owner string
	// Codec names the codec's type without import paths, e.g.
	// "topology.jsonCodec[main.Click]"; "none" for a topic declared without one.
	Codec string
	// Partitions and Retention are the settings the topic resolves to, the
	// graph's defaults applied; Retention is 0 for a table.
	Partitions int32
	Retention  time.Duration
	// Source and Sink are true for a topic of the graph's Sources and Sinks.
	Source, Sink bool
	// Writers are the agents that may emit to the topic; Readers those that
	// read it as an input, a lookup or a join.
	Writers, Readers []string
	// Decode decodes a value of the topic with its declared codec, as an any
	// of the codec's type; nil when the topic has no codec.
	Decode func(b []byte) (any, error)
}

// Topic returns the topic of d named name.
func (d Description) Topic(name string) (TopicDescription, bool) {
	for _, t := range d.Topics {
		if t.Name == name {
			return t, true
		}
	}
	return TopicDescription{}, false
}

// Agent returns the agent of d named name.
func (d Description) Agent(name string) (AgentDescription, bool) {
	for _, a := range d.Agents {
		if a.Name == name {
			return a, true
		}
	}
	return AgentDescription{}, false
}

// Description returns the structure of g. Like [Graph.Describe], it does not
// validate: an invalid graph is described as far as it can be (a topic
// without a name is left out of Topics but kept, as "", in its agent's lists;
// of two conflicting declarations of a topic, the first wins).
func (g *Graph) Description() Description {
	r := g.resolve()
	d := Description{Name: g.Name}
	decoders := map[string]func([]byte) (any, error){}
	for _, a := range r.agents {
		ad := AgentDescription{Name: a.name, Group: a.group, Async: a.async, DeadLetters: a.dlq.name}
		for _, s := range a.inputs {
			ad.Inputs = append(ad.Inputs, s.name)
			noteDecoder(decoders, s)
		}
		for _, s := range a.lookups { // in resolve's order, so that Decode is Codec's
			ad.Lookups = append(ad.Lookups, s.name)
			noteDecoder(decoders, s)
		}
		for _, s := range a.joins {
			ad.Joins = append(ad.Joins, s.name)
			noteDecoder(decoders, s)
		}
		for _, s := range a.outputs {
			ad.Outputs = append(ad.Outputs, s.name)
			noteDecoder(decoders, s)
		}
		if a.state != nil {
			ad.Table = a.state.name
			noteDecoder(decoders, *a.state)
		}
		if a.timers != nil {
			ad.Timers = a.timers.name
		}
		if a.loop != nil {
			ad.Loop = a.loop.name
		}
		d.Agents = append(d.Agents, ad)
	}
	for _, ts := range [][]Topic{g.Sources, g.Sinks} {
		for _, t := range ts {
			if t != nil {
				noteDecoder(decoders, t.spec())
			}
		}
	}
	// The agents' own topics besides their tables: role and owner.
	type own struct {
		role  Role
		agent string
	}
	owned := map[string]own{}
	for _, a := range r.agents {
		owned[a.dlq.name] = own{RoleDeadLetters, a.name}
		if a.timers != nil {
			owned[a.timers.name] = own{RoleTimers, a.name}
		}
		if a.loop != nil {
			owned[a.loop.name] = own{RoleLoop, a.name}
		}
	}
	for _, name := range r.order {
		t := r.topics[name]
		td := TopicDescription{
			Name: t.name, Kind: t.kind, Owner: t.owner,
			Codec: shortCodec(t.codec), Partitions: t.partitions, Retention: t.retention,
			Source: t.source, Sink: t.sink,
			Writers: append([]string(nil), t.writers...), Readers: append([]string(nil), t.readers...),
			Decode: decoders[t.name],
		}
		if o, ok := owned[t.name]; ok {
			td.Role, td.Owner = o.role, o.agent
		}
		if t.kind != KindStream {
			td.Retention = 0
		}
		d.Topics = append(d.Topics, td)
	}
	return d
}

// noteDecoder records a decoder of s's codec under its name, unless one is
// recorded already (the first declaration wins, as in [Graph.resolve]).
func noteDecoder(m map[string]func([]byte) (any, error), s topicSpec) {
	if _, ok := m[s.name]; ok || s.erased == nil {
		return
	}
	c := s.erased()
	m[s.name] = func(b []byte) (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("topology: codec %s panicked decoding a value of %q: %v", shortCodec(s.codecName()), s.name, p)
			}
		}()
		return c.Decode(b)
	}
}
