package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// record is what a [Context] needs of the record being processed; *gokax.Msg
// implements it.
type record interface {
	Context() context.Context
	Key() string
	Topic() string
	Partition() int32
	Offset() int64
	Timestamp() time.Time
	Headers() map[string][]byte
	Value() ([]byte, error)
	SetValue(b []byte, headers map[string][]byte) error
	Delete() error
	Emit(topic, key string, value []byte, headers map[string][]byte) error
	Settle() error
	Lookup(table, key string) ([]byte, error)
	Join(table string) ([]byte, error)
	Loopback(key string, value []byte, headers map[string][]byte)
}

// Context is the handler's view of the record being processed and of the agent's
// state. It is a context.Context, done when the agent stops.
//
// Emits and state changes are buffered and take effect only when the handler
// returns nil: a failed, retried or dead-lettered record leaves no partial output.
// A Context is valid only during the handler call and must not be shared between
// goroutines.
type Context[S any] struct {
	context.Context
	rec   record
	agent *agentRuntime
	state Codec[S]

	stateOp    stateOp
	stateValue S
	stateBytes []byte
	emits      []pendingEmit
	err        error // the first emit error, reported even if the handler ignores it
	// trace is the trace headers of every record the handling writes, nil if none.
	trace map[string][]byte

	timerOps []timerOp // SetTimer and CancelTimer calls, in order
	firing   *firing   // in a timer handler, the timer that fired
}

type stateOp int

const (
	stateKeep stateOp = iota
	stateSet
	stateDelete
)

type pendingEmit struct {
	topic, key string
	value      []byte
	headers    map[string][]byte
}

func newContext[S any](rec record, rt *agentRuntime, state Codec[S]) *Context[S] {
	return &Context[S]{Context: rec.Context(), rec: rec, agent: rt, state: state}
}

// Key returns the record key.
func (c *Context[S]) Key() string { return c.rec.Key() }

// Topic returns the topic the record was read from.
func (c *Context[S]) Topic() string { return c.rec.Topic() }

// Partition returns the partition the record was read from.
func (c *Context[S]) Partition() int32 { return c.rec.Partition() }

// Offset returns the record's offset.
func (c *Context[S]) Offset() int64 { return c.rec.Offset() }

// Timestamp returns the record's timestamp (event time).
func (c *Context[S]) Timestamp() time.Time { return c.rec.Timestamp() }

// Header returns the value of the record header name, or nil.
func (c *Context[S]) Header(name string) []byte { return c.rec.Headers()[name] }

// Agent returns the name of the agent handling the record.
func (c *Context[S]) Agent() string { return c.agent.name }

// State returns the agent's state for the record's key, including a change the
// handler made earlier in this call. ok is false if the key has no state. It fails
// with [ErrStateless] in an agent without a table, and with a [*DecodeError] if the
// stored value cannot be decoded.
func (c *Context[S]) State() (v S, ok bool, err error) {
	switch c.stateOp {
	case stateSet:
		return c.stateValue, true, nil
	case stateDelete:
		return v, false, nil
	}
	if c.state == nil {
		return v, false, fmt.Errorf("agent %q: %w", c.agent.name, ErrStateless)
	}
	b, err := c.rec.Value()
	if err != nil || b == nil {
		return v, false, err
	}
	v, err = c.state.Decode(b)
	if err != nil {
		return v, false, &DecodeError{Topic: c.agent.table, Partition: c.Partition(), Err: err}
	}
	return v, true, nil
}

// SetState sets the agent's state for the record's key. The value is encoded now;
// it is written (locally and to the changelog) when the handler returns nil.
func (c *Context[S]) SetState(v S) error {
	if c.state == nil {
		return fmt.Errorf("agent %q: %w", c.agent.name, ErrStateless)
	}
	b, err := c.state.Encode(v)
	if err != nil {
		return fmt.Errorf("agent %q: encode state: %w", c.agent.name, err)
	}
	c.stateOp, c.stateValue, c.stateBytes = stateSet, v, b
	return nil
}

// DeleteState deletes the agent's state for the record's key when the handler
// returns nil.
func (c *Context[S]) DeleteState() error {
	if c.state == nil {
		return fmt.Errorf("agent %q: %w", c.agent.name, ErrStateless)
	}
	var zero S
	c.stateOp, c.stateValue, c.stateBytes = stateDelete, zero, nil
	return nil
}

// Emit encodes v with out.Codec and sends it to out under key when the handler
// returns nil. out must be one of the agent's Outputs: otherwise Emit returns
// [ErrUndeclaredOutput] and the record goes to the dead-letter topic even if the
// handler ignores the error.
func Emit[T, S any](c *Context[S], out Stream[T], key string, v T) error {
	return EmitTo(c, out.Name, key, v)
}

// EmitTo is [Emit] for a topic chosen by name at run time, as a routing agent does
// from the event's data. topic must be one of the agent's Outputs and carry values
// of type T; otherwise EmitTo returns [ErrUndeclaredOutput] or [ErrCodecMismatch],
// and the record goes to the dead-letter topic.
func EmitTo[T, S any](c *Context[S], topic, key string, v T) error {
	out, ok := c.agent.outputs[topic]
	if !ok {
		return c.fail(fmt.Errorf("agent %q: emit to %q: %w", c.agent.name, topic, ErrUndeclaredOutput))
	}
	codec, ok := out.codec.(Codec[T])
	if !ok {
		var zero T
		return c.fail(fmt.Errorf("agent %q: emit %T to %q (codec %s): %w", c.agent.name, zero, topic, out.codecName(), ErrCodecMismatch))
	}
	b, err := codec.Encode(v)
	if err != nil {
		return c.fail(fmt.Errorf("agent %q: encode for %q: %w", c.agent.name, topic, err))
	}
	c.emits = append(c.emits, pendingEmit{topic: topic, key: key, value: b})
	return nil
}

// Lookup returns the value of key in t, one of the agent's Lookups. ok is false if
// the key is not in the table.
func Lookup[T, S any](c *Context[S], t Table[T], key string) (v T, ok bool, err error) {
	b, err := c.rec.Lookup(c.agent.topic(t.Name), key)
	return decodeTable(c, t, b, err)
}

// Join returns the value of the record's key in t, one of the agent's Joins. ok is
// false if the key is not in the table.
func Join[T, S any](c *Context[S], t Table[T]) (v T, ok bool, err error) {
	b, err := c.rec.Join(c.agent.topic(t.Name))
	return decodeTable(c, t, b, err)
}

func decodeTable[T, S any](c *Context[S], t Table[T], b []byte, err error) (v T, ok bool, _ error) {
	if err != nil {
		return v, false, fmt.Errorf("agent %q: table %q: %w", c.agent.name, t.Name, err)
	}
	if b == nil {
		return v, false, nil
	}
	if v, err = t.Codec.Decode(b); err != nil {
		return v, false, &DecodeError{Topic: t.Name, Err: err}
	}
	return v, true, nil
}

func (c *Context[S]) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return err
}

// commit applies the buffered state change, emits and timer changes.
func (c *Context[S]) commit() error {
	timers, err := c.prepareTimers()
	if err != nil {
		return err
	}
	if err := c.checkSizes(); err != nil {
		return err
	}
	switch c.stateOp {
	case stateSet:
		if err := c.rec.SetValue(c.stateBytes, nil); err != nil {
			return err
		}
	case stateDelete:
		if err := c.rec.Delete(); err != nil {
			return err
		}
	}
	for _, e := range c.emits {
		if err := c.rec.Emit(e.topic, e.key, e.value, withTrace(e.headers, c.trace)); err != nil {
			return err
		}
		c.agent.metrics.emitted(e.topic)
	}
	if timers != nil {
		if err := writeTimerValue(c.agent, c.timerPart(), c.rec, c.Key(), timers.set, timers.value); err != nil {
			return err
		}
	}
	return settle(c.rec)
}

// settle returns the failures of the record's writes the broker answered
// already: those of a record written one write per request after a refused
// batch (see [ErrRefused]); every other record's writes are answered after
// its handler returned.
func settle(rec record) error {
	err := rec.Settle()
	if errors.Is(err, gokax.ErrRefused) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}
