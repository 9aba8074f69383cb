package topology

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Timer is a callback an agent asked for about one key: when it fires, the
// agent's [Agent.OnTimer] handler runs for the key, with the key's state, as
// for an input record. Schedule one from any handler of the agent with
// [Context.SetTimer].
type Timer struct {
	// Name identifies the timer among the key's timers: setting a timer of a
	// name the key has pending replaces it.
	Name string
	// At is when the timer fires: a wall-clock time, or with Stream a stream
	// time. A time already past fires at once.
	At time.Time
	// Stream makes At a stream time: the timer fires once the partition's
	// stream time, the largest timestamp of the input records its agent has
	// handled, reaches At (see [Context.StreamTime]). Without it, At is a
	// time of the wall clock of the instance that owns the key's partition.
	Stream bool
	// Data is given back to the handler when the timer fires; nil for none.
	// A key's timers, data included, must fit one record of the agent's
	// timers topic.
	Data []byte
}

// TimerHandler handles a timer of the agent that fired for key. c is the
// handler's view of the key as for an input record ([Handler]): state,
// emits, lookups and timers, buffered and applied only if it returns nil.
// An error is retried as a handler's ([Retries]); after that the fire
// record goes to the dead-letter topic and the timer is gone.
type TimerHandler[S any] func(c *Context[S], key string, t Timer) error

// TimersName returns the timers topic of the agent named agent:
// agent+"-timers", a compacted topic co-partitioned with the agent's inputs
// that holds each key's pending timers.
func TimersName(agent string) string { return agent + "-timers" }

// Headers of the loop records that fire timers and clean up after them.
const (
	// HeaderTimerOp is "fire" or "clean".
	HeaderTimerOp = "sluice-timer-op"
	// HeaderTimerName is the timer's name.
	HeaderTimerName = "sluice-timer"
	// HeaderTimerID is the timer's id: a timer set again gets a new one, so a
	// fire record of the timer it replaced finds nothing to fire.
	HeaderTimerID = "sluice-timer-id"
	// HeaderTimerOffset, on a clean record, is the loop offset of the fire
	// record whose marker it removes.
	HeaderTimerOffset = "sluice-timer-offset"
)

// Timer errors, reported for one record: it goes to the dead-letter topic.
var (
	// ErrNoTimers: a handler set, cancelled or read a timer in an agent
	// without [Agent.OnTimer].
	ErrNoTimers = fmt.Errorf("topology: agent has no timer handler: %w", ErrPermanent)
	// ErrTimerName: a timer's name is empty, longer than [MaxTimerName] bytes
	// or not UTF-8.
	ErrTimerName = fmt.Errorf("topology: invalid timer name: %w", ErrPermanent)
)

// MaxTimerName is the longest timer name, in bytes.
const MaxTimerName = 200

// timerOp is a buffered change to the key's timers.
type timerOp struct {
	name   string
	cancel bool
	t      storedTimer // when !cancel
}

// SetTimer schedules t for the record's key when the handler returns nil,
// replacing the key's pending timer of the same name, if any. The timer is
// kept in Kafka with the agent's other effects of this call: it survives
// restarts, crashes and rebalances, and fires on whichever instance owns the
// key's partition then, never before t.At (by that instance's wall clock, or
// by the partition's stream time). See [Agent.OnTimer] for the guarantees.
//
// It fails with [ErrNoTimers] in an agent without OnTimer and with
// [ErrTimerName] for a bad name; the record then goes to the dead-letter
// topic even if the handler ignores the error.
func (c *Context[S]) SetTimer(t Timer) error {
	if err := c.timersUsable(t.Name); err != nil {
		return err
	}
	st := storedTimer{Name: t.Name, ID: newTimerID(), At: unixNanos(t.At), Stream: t.Stream, Set: unixNanos(c.agent.now())}
	if len(t.Data) > 0 {
		st.Data = append([]byte(nil), t.Data...)
	}
	if tp := c.trace["traceparent"]; tp != nil {
		st.Trace = string(tp)
	}
	c.timerOps = append(c.timerOps, timerOp{name: t.Name, t: st})
	return nil
}

// CancelTimer cancels the key's pending timer named name when the handler
// returns nil; a name with no pending timer is no error. It fails as
// [Context.SetTimer] does.
func (c *Context[S]) CancelTimer(name string) error {
	if err := c.timersUsable(name); err != nil {
		return err
	}
	c.timerOps = append(c.timerOps, timerOp{name: name, cancel: true})
	return nil
}

// Timer returns the key's pending timer named name, including the changes
// this call made; ok is false if there is none. In a timer handler, the
// timer that fired is no longer pending unless the handler set it again.
func (c *Context[S]) Timer(name string) (t Timer, ok bool, err error) {
	if err := c.timersUsable(name); err != nil {
		return t, false, err
	}
	set, err := c.timerSet()
	if err != nil {
		return t, false, err
	}
	for _, st := range set.Timers {
		if st.Name == name {
			return st.public(), true, nil
		}
	}
	return t, false, nil
}

// Now returns the time by the agent's clock: the wall clock under [Run], and
// the fake clock of package topologytest in its harness. Compute timer times
// from it, so that tests control them.
func (c *Context[S]) Now() time.Time { return c.agent.now() }

// StreamTime returns the stream time of the record's partition: the largest
// timestamp of the input records the agent has handled on it (restored, after
// a restart, from the times recorded with its timers), the zero time if none
// is known. It needs [Agent.OnTimer]; without it, it is the zero time.
func (c *Context[S]) StreamTime() time.Time {
	tp := c.timerPart()
	if tp == nil {
		return time.Time{}
	}
	return unixTime(tp.streamNow())
}

// timersUsable checks that the agent has timers and name is a usable name.
func (c *Context[S]) timersUsable(name string) error {
	if c.agent.timers == nil {
		return c.fail(fmt.Errorf("agent %q: %w", c.agent.name, ErrNoTimers))
	}
	if name == "" || len(name) > MaxTimerName || !utf8.ValidString(name) {
		return c.fail(fmt.Errorf("agent %q: timer %q: %w", c.agent.name, name, ErrTimerName))
	}
	return nil
}

// timerPart returns the timer index of the record's partition, nil in an
// agent without timers.
func (c *Context[S]) timerPart() *timerPart {
	if c.agent.timers == nil {
		return nil
	}
	return c.agent.timers.part(c.Partition())
}

// timerSet returns the key's timers as they will be if the handler returns
// nil: the stored set, less a timer that is firing, with this call's changes.
func (c *Context[S]) timerSet() (timerSet, error) {
	tp := c.timerPart()
	if tp == nil {
		return timerSet{}, fmt.Errorf("agent %q: partition %d: %w", c.agent.name, c.Partition(), errNoTimerIndex)
	}
	set := tp.get(c.Key())
	if f := c.firing; f != nil {
		set.remove(f.t.Name, f.t.ID)
		if c.agent.timers.markers && !f.replay {
			set.Fired = append(set.Fired, firedMark{storedTimer: f.t, Offset: f.offset})
		}
	}
	for _, op := range c.timerOps {
		set.remove(op.name, 0)
		if !op.cancel {
			set.Timers = append(set.Timers, op.t)
		}
	}
	set.StreamTime = tp.streamNow()
	set.sort()
	return set, nil
}

// errNoTimerIndex: a record reached an agent's handler while its partition's
// timers were not in memory, which the callbacks' await prevents.
var errNoTimerIndex = errors.New("topology: no timer index for the partition")

// unixNanos returns t in nanoseconds since the Unix epoch, clamped to what
// int64 holds and to at least 1 (0 stands for no time): a time before 1970
// is as past as 1970 is.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 1)):
		return 1
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// unixTime returns the time of ns nanoseconds since the Unix epoch, the zero
// time for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
