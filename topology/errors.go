package topology

import (
	"errors"
	"fmt"
)

// Declaration errors, returned wrapped (naming the agent and topic) by
// [Graph.Validate], and so by [Run] before anything starts.
var (
	// ErrNoName: an agent or topic has an empty name.
	ErrNoName = errors.New("topology: empty name")
	// ErrNoCodec: a stream or table has no codec.
	ErrNoCodec = errors.New("topology: no codec")
	// ErrNoInput: an agent reads no stream.
	ErrNoInput = errors.New("topology: agent has no input")
	// ErrDuplicateAgent: two agents share a name, and so a consumer group.
	ErrDuplicateAgent = errors.New("topology: duplicate agent name")
	// ErrUnknownTopic: an agent reads a stream no agent writes and that is not a
	// declared source, or a table no agent owns and that is not a declared source.
	ErrUnknownTopic = errors.New("topology: unknown topic")
	// ErrNoReader: an agent may emit or route to a stream that no agent reads and
	// that is not a declared sink.
	ErrNoReader = errors.New("topology: output read by no agent and not a sink")
	// ErrCodecMismatch: a topic is declared with two different codecs (its writer
	// and its reader disagree), or a value of the wrong type is emitted to it.
	ErrCodecMismatch = errors.New("topology: codec mismatch")
	// ErrTopicConflict: a topic is declared twice with different kinds or
	// partition counts.
	ErrTopicConflict = errors.New("topology: conflicting topic declarations")
	// ErrCopartition: an agent's inputs, joined tables and own table do not all have
	// the same partition count, so a key's records and state would live on
	// different partitions.
	ErrCopartition = errors.New("topology: topics not co-partitioned")
	// ErrUnknownAgent: [Agents] names an agent the graph does not have.
	ErrUnknownAgent = errors.New("topology: unknown agent")
)

// Processing errors, reported for one record; the record goes to the agent's
// dead-letter topic with the error as its reason.
var (
	// ErrUndeclaredOutput: a handler emitted or routed to a topic that is not one of
	// its agent's Outputs.
	ErrUndeclaredOutput = errors.New("topology: emit to undeclared output")
	// ErrStateless: a handler of an agent without a table used its state.
	ErrStateless = errors.New("topology: agent has no state")
)

// DecodeError reports a value that its topic's codec could not decode.
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns e.Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// PanicError reports a handler that panicked. The record goes to the dead-letter
// topic; the agent goes on.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// ErrPermanent marks a handler error that retrying cannot fix: wrap it
// (fmt.Errorf("bad amount %d: %w", n, topology.ErrPermanent)) and the record goes to
// the dead-letter topic at once.
var ErrPermanent = errors.New("topology: permanent failure")

// ErrRefused is the reason a record goes to the dead-letter topic when the
// broker refused one of its writes for good (INVALID_RECORD, MESSAGE_TOO_LARGE,
// a topic policy): writing it again cannot succeed, and the agent would
// crash-loop on it. The broker refuses a produce batch whole, so the agent
// first writes the records of a refused batch one by one: only the record
// whose own write is refused goes to the dead-letter topic, and its other
// writes that the broker accepted stay written. It wraps [ErrPermanent].
var ErrRefused = fmt.Errorf("topology: write refused by the broker: %w", ErrPermanent)
