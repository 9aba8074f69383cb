package topology

import (
	"fmt"
	"time"
)

// Kind says how a topic is cleaned up: streams are deleted by retention, tables are
// compacted to the latest value per key.
type Kind int

const (
	// KindStream is a topic with cleanup.policy=delete.
	KindStream Kind = iota
	// KindTable is a topic with cleanup.policy=compact: an agent's state changelog.
	KindTable
)

// String returns "stream" or "table".
func (k Kind) String() string {
	if k == KindTable {
		return "table"
	}
	return "stream"
}

// Stream is a typed handle to a topic with cleanup.policy=delete.
//
// A Stream is a plain value: declare it once as a package variable and use it in
// agents, emitters and tests. The zero Partitions and Retention mean the graph's
// defaults ([Graph.Partitions] and [Graph.Retention], or [DefaultPartitions]
// and [DefaultRetention]).
type Stream[T any] struct {
	// Name is the Kafka topic name.
	Name string
	// Codec encodes and decodes the topic's values.
	Codec Codec[T]
	// Partitions is the topic's partition count; 0 means the graph default.
	Partitions int32
	// Retention is the topic's retention.ms; 0 means the graph default.
	Retention time.Duration
}

// Table is a typed handle to an agent's state: a compacted changelog topic named
// after the agent (see [TableName]). Obtain one with [Agent.Table] or, for a table
// owned by another topology, declare it by name with [ExternalTable].
type Table[T any] struct {
	// Name is the changelog topic name.
	Name string
	// Codec encodes and decodes the table's values.
	Codec Codec[T]
	// Partitions is the changelog's partition count; 0 means the graph default.
	Partitions int32
}

// TableName returns the changelog topic of the agent named agent: agent+"-table",
// the name goka gives a group table.
func TableName(agent string) string { return agent + "-table" }

// DeadLetterName returns the dead-letter topic of the agent named agent: agent+"-dlq".
func DeadLetterName(agent string) string { return agent + "-dlq" }

// ExternalTable declares the table of an agent that runs in another topology, so
// that agents of this one can look it up. name is that agent's name.
func ExternalTable[T any](agent string, c Codec[T]) Table[T] {
	return Table[T]{Name: TableName(agent), Codec: c}
}

// Topic is the untyped view of a [Stream] or [Table] the graph works with:
// validation, drawing and provisioning need names, kinds and codecs, not types.
// Only this package implements it.
type Topic interface {
	// TopicName returns the Kafka topic name.
	TopicName() string
	// Kind returns KindStream or KindTable.
	Kind() Kind
	spec() topicSpec
}

// topicSpec is what the graph keeps of a topic.
type topicSpec struct {
	name       string
	kind       Kind
	codec      any               // a Codec[T]; compared by dynamic type
	erased     func() Codec[any] // codec with its type erased; see AnyTable and Description
	partitions int32
	retention  time.Duration
}

// codecName names the codec's dynamic type, e.g. "topology.jsonCodec[main.Click]".
func (s topicSpec) codecName() string { return fmt.Sprintf("%T", s.codec) }

// TopicName returns s.Name.
func (s Stream[T]) TopicName() string { return s.Name }

// Kind returns KindStream.
func (s Stream[T]) Kind() Kind { return KindStream }

func (s Stream[T]) spec() topicSpec {
	t := topicSpec{name: s.Name, kind: KindStream, codec: s.Codec, partitions: s.Partitions, retention: s.Retention}
	if s.Codec != nil {
		t.erased = func() Codec[any] { return erasedCodec[T]{s.Codec} }
	}
	return t
}

// TopicName returns t.Name.
func (t Table[T]) TopicName() string { return t.Name }

// Kind returns KindTable.
func (t Table[T]) Kind() Kind { return KindTable }

func (t Table[T]) spec() topicSpec {
	s := topicSpec{name: t.Name, kind: KindTable, codec: t.Codec, partitions: t.Partitions}
	if t.Codec != nil {
		s.erased = func() Codec[any] { return erasedCodec[T]{t.Codec} }
	}
	return s
}
