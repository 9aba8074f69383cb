package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// firing is the timer a timer handler's Context is firing.
type firing struct {
	t      storedTimer
	offset int64 // of the fire record
	replay bool  // the fire record is read again: its marker is in the set already
}

// loopMsg is what timer callbacks need of a record.
type loopMsg = msg

// awaitTimers waits, in a callback of an agent with timers, until the
// record's partition's timers are restored. If they cannot be (the agent
// stops, or the restore failed), the record is aborted: read again after a
// restart.
func awaitTimers(rt *agentRuntime, m msg) bool {
	if rt.timers == nil {
		return true
	}
	if err := rt.timers.await(m.Context(), m.Partition()); err != nil {
		m.Abort(fmt.Errorf("agent %q: %s/%d@%d: %w", rt.name, m.Topic(), m.Partition(), m.Offset(), err))
		return false
	}
	return true
}

// advanceStream moves the partition's stream time to the input record's
// timestamp and fires the stream timers that makes due, through the
// record's loopback: the trigger is one of the record's own writes.
func advanceStream(rt *agentRuntime, m loopMsg) {
	if rt.timers == nil || m.Timestamp().IsZero() || m.Timestamp().UnixNano() <= 0 {
		return
	}
	tp := rt.timers.part(m.Partition())
	if tp == nil {
		return
	}
	for _, e := range tp.advance(m.Timestamp().UnixNano()) {
		m.Loopback(e.key, []byte(e.st.Name), fireHeaders(e.st))
	}
}

// timerRecord handles a record of the loop topic that fires a timer or
// cleans up after one.
func timerRecord[S any](rt *agentRuntime, state Codec[S], onTimer TimerHandler[S], m loopMsg, value []byte) {
	h := m.Headers()
	name := string(h[HeaderTimerName])
	id, err := strconv.ParseUint(string(h[HeaderTimerID]), 10, 64)
	op := string(h[HeaderTimerOp])
	if err != nil || name == "" || (op != timerOpFire && op != timerOpClean) {
		deadLetter(rt, m, value, fmt.Errorf("loop record with %s=%q, %s=%q, %s=%q is no timer record sluice writes: %w",
			HeaderTimerOp, op, HeaderTimerName, name, HeaderTimerID, h[HeaderTimerID], ErrPermanent), 0)
		return
	}
	tp := rt.timers.part(m.Partition())
	if op == timerOpClean {
		set := tp.get(m.Key())
		if set.removeMark(name, id) {
			if err := writeTimers(rt, tp, m, m.Key(), set); err != nil {
				m.Abort(err)
			}
		}
		return
	}
	fireTimer(rt, state, onTimer, tp, m, value, name, id)
}

// fireTimer runs the timer handler for the timer id named name of the
// record's key, if that timer is pending (or this record fired it before and
// is read again), as for an input record.
func fireTimer[S any](rt *agentRuntime, state Codec[S], onTimer TimerHandler[S], tp *timerPart, m loopMsg, value []byte, name string, id uint64) {
	key := m.Key()
	now := rt.now()
	t, ok := tp.lookup(key, name, id)
	replay := false
	switch {
	case ok && !t.Stream && unixNanos(now) < t.At:
		// Early by this instance's clock (the sender's runs ahead): the
		// scheduler sends it again at its time.
		tp.unsend(key, name, id)
		rt.timers.wakeUp()
		return
	case !ok:
		f, marked := tp.marker(key, name, id)
		if !marked || f.Offset != m.Offset() {
			rt.metrics.agent.TimerStale() // cancelled, replaced or fired already
			return
		}
		t, replay = f.storedTimer, true
	}
	in := Input[S]{topic: rt.timers.spec, handle: func(c *Context[S], _ []byte) error {
		c.firing = &firing{t: t, offset: m.Offset(), replay: replay}
		return onTimer(c, c.Key(), t.public())
	}}
	switch process(rt, state, in, m, value) {
	case outcomeAborted:
		return
	case outcomeDeadLettered:
		// The handler gave up: the timer is done all the same.
		set := tp.get(key)
		set.remove(name, id)
		if rt.timers.markers && !replay {
			set.Fired = append(set.Fired, firedMark{storedTimer: t, Offset: m.Offset()})
		}
		if err := writeTimers(rt, tp, m, key, set); err != nil {
			m.Abort(err)
			return
		}
	}
	late := time.Duration(-1) // not observed
	if !t.Stream {
		late = max(now.Sub(unixTime(t.At)), 0)
	}
	rt.metrics.agent.TimerFired(late)
}

// timerWrite is a key's new timer set, encoded, to be written with a
// handling's other effects.
type timerWrite struct {
	set   timerSet
	value []byte
}

// prepareTimers returns the write of the key's timers that the handling
// makes, nil if it changes nothing; it fails with [ErrTooLarge] if the set
// does not fit a record.
func (c *Context[S]) prepareTimers() (*timerWrite, error) {
	if len(c.timerOps) == 0 && c.firing == nil {
		return nil, nil
	}
	set, err := c.timerSet()
	if err != nil {
		return nil, err
	}
	if sameTimers(set, c.timerPart().get(c.Key())) {
		return nil, nil
	}
	b, err := encodeTimerSet(set)
	if err != nil {
		return nil, fmt.Errorf("agent %q: encode timers of %q: %w", c.agent.name, c.Key(), err)
	}
	if err := c.agent.checkSize(c.agent.timers.topic, recordSize(c.Key(), b, nil)); err != nil {
		return nil, err
	}
	return &timerWrite{set: set, value: b}, nil
}

// sameTimers reports whether a and b hold the same timers and markers.
func sameTimers(a, b timerSet) bool {
	a.StreamTime, b.StreamTime = 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// writeTimers writes set as key's timers, one of m's writes, applies it to
// the index, and fires the stream timers it makes due through m's loopback.
func writeTimers(rt *agentRuntime, tp *timerPart, m record, key string, set timerSet) error {
	b, err := encodeTimerSet(set)
	if err != nil {
		return fmt.Errorf("agent %q: encode timers of %q: %w", rt.name, key, err)
	}
	return writeTimerValue(rt, tp, m, key, set, b)
}

func writeTimerValue(rt *agentRuntime, tp *timerPart, m record, key string, set timerSet, b []byte) error {
	if err := m.Emit(rt.timers.topic, key, b, nil); err != nil {
		return fmt.Errorf("agent %q: write timers of %q: %w", rt.name, key, err)
	}
	for _, e := range tp.apply(key, set) {
		m.Loopback(e.key, []byte(e.st.Name), fireHeaders(e.st))
	}
	rt.timers.wakeUp() // a new timer may be due before the scheduler's next
	return nil
}
