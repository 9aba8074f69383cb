package topology

import (
	"fmt"
)

// Handler handles one record of type In whose key is key, in an agent whose state
// is of type S. c is valid only during the call. A non-nil error means the record
// failed: none of the handler's emits or state changes take effect, the record is
// retried (see [Retries]) and then sent to the agent's dead-letter topic.
type Handler[In, S any] func(c *Context[S], key string, in In) error

// Input is one input stream of an agent with the handler for its records. Create
// one with [Consume].
type Input[S any] struct {
	topic  topicSpec
	handle func(c *Context[S], value []byte) error
	async  *asyncInput[S] // set by ConsumeAsync instead of handle
}

// Consume returns the input of an agent that reads s and calls h for each record.
// A record whose value s.Codec cannot decode never reaches h: it goes to the
// dead-letter topic with a [*DecodeError].
func Consume[In, S any](s Stream[In], h Handler[In, S]) Input[S] {
	return Input[S]{
		topic: s.spec(),
		handle: func(c *Context[S], value []byte) error {
			if s.Codec == nil {
				return &DecodeError{Topic: s.Name, Err: ErrNoCodec}
			}
			v, err := s.Codec.Decode(value)
			if err != nil {
				return &DecodeError{Topic: s.Name, Partition: c.Partition(), Offset: c.Offset(), Err: err}
			}
			return h(c, c.Key(), v)
		},
	}
}

// Agent declares one agent: a goka processor group with its own consumer group
// (Name), the streams it reads, the topics it may emit or route to, and, when
// State is set, a table of type S whose changelog is the compacted topic
// [TableName](Name).
//
// An Agent is a plain value; add it to a [Graph]. S is the state type; use
// struct{} (and leave State nil) for a stateless agent.
type Agent[S any] struct {
	// Name is the agent's consumer group and the prefix of its table and
	// dead-letter topics. It must be unique in the graph.
	Name string
	// State encodes the agent's table values; nil means the agent is stateless.
	State Codec[S]
	// Inputs are the streams the agent reads, each with its handler.
	Inputs []Input[S]
	// Outputs are the streams the agent may emit or route to. An emit to any other
	// topic fails with [ErrUndeclaredOutput] and sends the record to the dead-letter
	// topic.
	Outputs []Topic
	// Lookups are tables of other agents the agent reads by any key.
	Lookups []Topic
	// Joins are tables of other agents the agent reads by the record's key; they
	// must be co-partitioned with the agent's inputs.
	Joins []Topic
	// OnTimer, if set, handles the agent's timers: any handler of the agent
	// may then schedule, replace and cancel named timers for the record's key
	// ([Context.SetTimer]), and when one fires OnTimer runs for the key, with
	// its state, as a handler runs for an input record: effects buffered and
	// applied only on success, retries, dead letters, tracing and metrics.
	//
	// Timers are kept in Kafka, in the compacted topic [TimersName](Name),
	// with the handling that set them, so they survive restarts, crashes and
	// rebalances, and fire on whichever instance owns the key's partition.
	// A wall-clock timer never fires before its time by that instance's clock,
	// a stream timer never before the partition's stream time reaches it; a
	// timer fires late by the scheduler's wake-up plus a round trip through
	// the broker (BenchmarkTimers), longer while the partition is busy or
	// moving. In at-least-once mode a timer fires at least once (again after a
	// crash between its handler's writes and their commit); with
	// [ExactlyOnce], exactly once: its handler's effects and the timer's
	// removal commit together. Fire records pass through the agent's loop
	// topic ([LoopName]).
	OnTimer TimerHandler[S]
}

// Table returns the handle of the agent's table, for lookups, joins and views.
func (a Agent[S]) Table() Table[S] {
	return Table[S]{Name: TableName(a.Name), Codec: a.State}
}

// AgentName returns a.Name.
func (a Agent[S]) AgentName() string { return a.Name }

// AgentDecl is an [Agent] of any state type, as a [Graph] holds it. Only this
// package implements it.
type AgentDecl interface {
	// AgentName returns the agent's name.
	AgentName() string
	decl() agentSpec
}

// agentSpec is the untyped form of an agent that validation, drawing, provisioning
// and the runtime share.
type agentSpec struct {
	name     string
	group    string            // consumer group: name in the graph's namespace
	moved    map[string]string // the graph's internal names moved into its namespace (see namespace)
	state    *topicSpec        // nil when stateless
	inputs   []topicSpec
	outputs  []topicSpec
	lookups  []topicSpec
	joins    []topicSpec
	dlq      topicSpec
	loop     *topicSpec // the loop topic, for agents with asynchronous inputs or timers
	async    bool       // the agent has asynchronous inputs
	timers   *topicSpec // the timers topic, for agents with OnTimer
	newGroup func(rt *agentRuntime) groupDef
}

func (a Agent[S]) decl() agentSpec {
	s := agentSpec{
		name:  a.Name,
		group: a.Name,
		dlq:   topicSpec{name: DeadLetterName(a.Name), kind: KindStream, codec: Bytes()},
	}
	if a.State != nil {
		t := a.Table().spec()
		s.state = &t
	}
	for _, in := range a.Inputs {
		s.inputs = append(s.inputs, in.topic)
		if in.async != nil && s.loop == nil {
			s.async = true
			s.loop = &topicSpec{name: LoopName(a.Name), kind: KindStream, codec: Bytes(), partitions: in.topic.partitions}
		}
	}
	if a.OnTimer != nil {
		var parts int32
		if len(a.Inputs) > 0 {
			parts = a.Inputs[0].topic.partitions
		}
		s.timers = &topicSpec{name: TimersName(a.Name), kind: KindTable, codec: Bytes(), partitions: parts}
		if s.loop == nil {
			s.loop = &topicSpec{name: LoopName(a.Name), kind: KindStream, codec: Bytes(), partitions: parts}
		}
	}
	for _, t := range a.Outputs {
		s.outputs = append(s.outputs, specOf(t))
	}
	for _, t := range a.Lookups {
		s.lookups = append(s.lookups, specOf(t))
	}
	for _, t := range a.Joins {
		s.joins = append(s.joins, specOf(t))
	}
	s.newGroup = func(rt *agentRuntime) groupDef { return newGroupDef(a, rt) }
	return s
}

func specOf(t Topic) topicSpec {
	if t == nil {
		return topicSpec{}
	}
	return t.spec()
}

func (s agentSpec) String() string { return fmt.Sprintf("agent %q", s.name) }
