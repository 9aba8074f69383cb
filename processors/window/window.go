package window

import (
	"math"
	"slices"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// New returns the agent c declares. Add it to a [topology.Graph] with c.Input
// as a source or another agent's output, and c.Output and c.Late as sinks or
// other agents' inputs. Its table, [topology.TableName](c.Name), holds a [State]
// per key in [StateCodec]'s encoding.
//
// New fails with an error wrapping [ErrConfig] that says what to fix.
func New[In any](c Config[In]) (topology.Agent[State], error) {
	s, err := c.validate()
	if err != nil {
		return topology.Agent[State]{}, err
	}
	w := &windower[In]{spec: s, value: c.Value, output: c.Output, late: c.Late, metrics: c.Metrics}
	if w.metrics == nil {
		w.metrics = new(Metrics)
	}
	a := topology.Agent[State]{
		Name:    c.Name,
		State:   StateCodec(),
		Inputs:  []topology.Input[State]{topology.Consume(c.Input, w.handle)},
		Outputs: []topology.Topic{c.Output, c.Late},
	}
	if s.idle > 0 {
		a.OnTimer = w.idleTimer
	}
	return a, nil
}

// windower is the handler of one window agent.
type windower[In any] struct {
	spec
	value   func(In) float64
	output  topology.Stream[Result]
	late    topology.Stream[LateRecord[In]]
	metrics *Metrics
}

// step is what one record did to its key's state.
type step struct {
	updates []Result // windows the record updated, by start
	finals  []Result // windows that closed, by start
	late    bool     // the first window containing the record had closed
	added   bool     // the record is in at least one window
}

func (w *windower[In]) handle(c *topology.Context[State], key string, in In) error {
	ts := c.Timestamp()
	if ts.Before(time.Unix(0, 0)) {
		return ErrNoTimestamp
	}
	t := ts.UnixMilli()
	v := 1.0
	if w.value != nil {
		v = w.value(in)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ErrBadValue
	}
	st, ok, err := c.State()
	if err != nil {
		return err
	}
	st, s, changed := w.apply(st, ok, t, v)
	if changed {
		if err := c.SetState(st); err != nil {
			return err
		}
	}
	if w.updates {
		for _, r := range s.updates {
			if err := topology.Emit(c, w.output, key, r); err != nil {
				return err
			}
		}
	}
	if w.finals {
		for _, r := range s.finals {
			if err := topology.Emit(c, w.output, key, r); err != nil {
				return err
			}
		}
	}
	if s.late {
		if err := topology.Emit(c, w.late, key, LateRecord[In]{Value: in, Time: millis(t), StreamTime: millis(st.StreamTime)}); err != nil {
			return err
		}
		w.metrics.late.Add(1)
	}
	if s.added {
		w.metrics.records.Add(1)
	}
	if w.updates {
		w.metrics.updates.Add(int64(len(s.updates)))
	}
	if w.finals {
		w.metrics.finals.Add(int64(len(s.finals)))
	}
	return w.armIdle(c, st, st.StreamTime, c.Now())
}

// apply folds the record (t, v) into st, the state of its key (ok is false if
// the key has none), and reports what changed: the results to emit, whether the
// record is late, and whether st must be written back.
func (s spec) apply(st State, ok bool, t int64, v float64) (State, step, bool) {
	old := st.StreamTime
	if !ok {
		old = t
	}
	now := max(old, t)
	st.StreamTime = now
	var r step
	switch s.kind {
	case Sliding:
		r = s.sliding(&st, t, v, old, now)
	case Session:
		r = s.session(&st, t, v, old, now)
	default:
		r = s.aligned(&st, t, v, old, now)
	}
	return st, r, !ok || now != old || r.added
}

// advanceTo moves the stream time of st forward to now, with no record (the
// wall clock moved it: see Config.Idle), and returns the final results of
// the windows that closed, which leave st.
func (s spec) advanceTo(st *State, now int64) []Result {
	old := st.StreamTime
	if now <= old {
		return nil
	}
	st.StreamTime = now
	switch s.kind {
	case Sliding:
		return s.closeSliding(st, old, now)
	case Session:
		return s.closeSessions(st, now)
	}
	return s.closeAligned(st, now)
}

// nextClose returns the stream time at which the next window of st closes,
// false if st has no open window.
func (s spec) nextClose(st State) (int64, bool) {
	next, ok := int64(math.MaxInt64), false
	at := func(t int64) {
		if t > st.StreamTime && t < next {
			next, ok = t, true
		}
	}
	switch s.kind {
	case Sliding:
		for _, e := range st.Events {
			at(e.Time + 1 + s.grace)
		}
	case Session:
		for _, ss := range st.Sessions {
			at(ss.End + s.gap + s.grace)
		}
	default:
		for _, a := range st.Windows {
			at(a.Start + s.size + s.grace)
		}
	}
	return next, ok
}

// closed reports whether the window ending at end accepts no more records at
// stream time now.
func (s spec) closed(end, now int64) bool { return end+s.grace <= now }

// aligned adds the record (t, v) to the tumbling or hopping windows of st that
// contain t and are open at stream time now, and closes the windows that closed
// since stream time old.
func (w spec) aligned(st *State, t int64, v float64, old, now int64) step {
	var s step
	first := (floorDiv(t-w.size, w.advance) + 1) * w.advance // the earliest start with start+size > t
	s.late = w.closed(first+w.size, now)
	for start := first; start <= t; start += w.advance {
		if w.closed(start+w.size, now) {
			continue
		}
		i, found := slices.BinarySearchFunc(st.Windows, start, func(a Aggregate, start int64) int {
			return cmpInt(a.Start, start)
		})
		if !found {
			st.Windows = slices.Insert(st.Windows, i, Aggregate{Start: start})
		}
		st.Windows[i].add(v)
		s.added = true
		s.updates = append(s.updates, w.result(st.Windows[i], start, start+w.size, now, false))
	}
	// Open windows are exactly those in st: each closes once, here.
	if now > old {
		s.finals = w.closeAligned(st, now)
	}
	return s
}

// closeAligned removes the windows of st closed at stream time now and
// returns their final results, by start.
func (w spec) closeAligned(st *State, now int64) []Result {
	var finals []Result
	open := st.Windows[:0]
	for _, a := range st.Windows {
		if w.closed(a.Start+w.size, now) {
			finals = append(finals, w.result(a, a.Start, a.Start+w.size, now, true))
		} else {
			open = append(open, a)
		}
	}
	clear(st.Windows[len(open):])
	st.Windows = open
	return finals
}

// sliding adds the record (t, v) to the events of st if a window that is open,
// or may still open, contains it; updates the windows containing it; closes the
// windows that closed since stream time old; and forgets the events no open or
// future window contains.
//
// The window of a distinct event time u is [u+1-size, u+1). It exists if an
// event at u arrived while it was open, and then gets a result on every update
// and one final result when stream time reaches u+1+grace.
func (w spec) sliding(st *State, t int64, v float64, old, now int64) step {
	var s step
	s.late = w.closed(t+1, now)
	// The window of any later event u < t+size contains t; the last of them
	// closes at t+size+grace.
	if !w.closed(t+w.size, now) {
		i, _ := slices.BinarySearchFunc(st.Events, t+1, func(e Event, t int64) int { return cmpInt(e.Time, t) })
		st.Events = slices.Insert(st.Events, i, Event{Time: t, Value: v})
		s.added = true
	}
	// Updates: the record's own window, then those of later events containing it.
	if !s.late {
		s.updates = append(s.updates, w.slidingResult(st.Events, t+1, now, false))
	}
	i, _ := slices.BinarySearchFunc(st.Events, t+1, func(e Event, t int64) int { return cmpInt(e.Time, t) })
	for ; i < len(st.Events) && st.Events[i].Time < t+w.size; i++ {
		u := st.Events[i].Time
		if i+1 < len(st.Events) && st.Events[i+1].Time == u {
			continue // one window per distinct time: take the last event at u
		}
		if !w.closed(u+1, now) {
			s.updates = append(s.updates, w.slidingResult(st.Events, u+1, now, false))
		}
	}
	if now > old {
		s.finals = w.closeSliding(st, old, now)
	}
	return s
}

// closeSliding returns the final results of the sliding windows of st that
// closed between stream times old and now, and forgets the events that no
// open window, nor any window a future record may open, contains: the last
// window containing an event e ends at e.Time+size.
func (w spec) closeSliding(st *State, old, now int64) []Result {
	var finals []Result
	for i, e := range st.Events {
		u := e.Time
		if i+1 < len(st.Events) && st.Events[i+1].Time == u {
			continue
		}
		if !w.closed(u+1, old) && w.closed(u+1, now) {
			finals = append(finals, w.slidingResult(st.Events, u+1, now, true))
		}
	}
	n := 0
	for n < len(st.Events) && w.closed(st.Events[n].Time+w.size, now) {
		n++
	}
	st.Events = slices.Delete(st.Events, 0, n)
	return finals
}

// slidingResult aggregates the events in [end-size, end).
func (w spec) slidingResult(events []Event, end, now int64, final bool) Result {
	start := end - w.size
	i, _ := slices.BinarySearchFunc(events, start, func(e Event, t int64) int { return cmpInt(e.Time, t) })
	var a Aggregate
	for ; i < len(events) && events[i].Time < end; i++ {
		a.add(events[i].Value)
	}
	return w.result(a, start, end, now, final)
}

// floorDiv returns a/b rounded toward negative infinity; b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
