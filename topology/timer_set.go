package topology

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// timerSet is the value of one key in an agent's timers topic: the key's
// whole timer state, written as one record whenever it changes, and a
// tombstone once it is empty.
type timerSet struct {
	// Timers are the key's pending timers, by name; names are unique.
	Timers []storedTimer `json:"timers,omitempty"`
	// Fired are markers of timers that fired in at-least-once mode and whose
	// handler's writes may not all be acknowledged yet (see DESIGN.md,
	// Timers): a replay of the fire record at Offset runs the handler again.
	Fired []firedMark `json:"fired,omitempty"`
	// StreamTime is the partition's stream time when the set was written, in
	// Unix nanoseconds: a time the partition reached, restored after a restart.
	StreamTime int64 `json:"stream_time,omitempty"`
}

// storedTimer is a [Timer] as the timers topic keeps it.
type storedTimer struct {
	Name   string `json:"name"`
	ID     uint64 `json:"id,string"`
	At     int64  `json:"at"` // Unix nanoseconds
	Stream bool   `json:"stream,omitempty"`
	Data   []byte `json:"data,omitempty"`
	// Set is when it was set, by the setting instance's clock (Unix ns).
	Set int64 `json:"set,omitempty"`
	// Trace is the W3C traceparent of the handling that set it: its firing
	// continues that trace.
	Trace string `json:"trace,omitempty"`
}

// firedMark is a timer that fired through the loop record at Offset.
type firedMark struct {
	storedTimer
	Offset int64 `json:"offset"`
}

// public returns st as a handler sees it.
func (st storedTimer) public() Timer {
	t := Timer{Name: st.Name, At: unixTime(st.At), Stream: st.Stream}
	if len(st.Data) > 0 {
		t.Data = append([]byte(nil), st.Data...)
	}
	return t
}

// empty reports whether the set holds nothing worth a record.
func (s *timerSet) empty() bool { return len(s.Timers) == 0 && len(s.Fired) == 0 }

// remove removes the timer named name, if its ID is id or id is 0.
func (s *timerSet) remove(name string, id uint64) {
	s.Timers = slices.DeleteFunc(s.Timers, func(st storedTimer) bool {
		return st.Name == name && (id == 0 || st.ID == id)
	})
}

// removeMark removes the marker of the timer id named name.
func (s *timerSet) removeMark(name string, id uint64) bool {
	n := len(s.Fired)
	s.Fired = slices.DeleteFunc(s.Fired, func(f firedMark) bool { return f.Name == name && f.ID == id })
	return len(s.Fired) != n
}

// sort orders the timers by name and the markers by offset, so that equal
// sets encode equally.
func (s *timerSet) sort() {
	slices.SortFunc(s.Timers, func(a, b storedTimer) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Fired, func(a, b firedMark) int { return int(min(max(a.Offset-b.Offset, -1), 1)) })
}

// clone returns a deep copy of s (the data of timers is shared: never
// modified in place).
func (s timerSet) clone() timerSet {
	s.Timers = slices.Clone(s.Timers)
	s.Fired = slices.Clone(s.Fired)
	return s
}

// errTimerSet: a timers topic value is not a timer set.
var errTimerSet = errors.New("topology: invalid timer set")

// encodeTimerSet returns the record value of s: nil (a tombstone) for an
// empty set.
func encodeTimerSet(s timerSet) ([]byte, error) {
	if s.empty() {
		return nil, nil
	}
	return json.Marshal(s)
}

// decodeTimerSet parses a value of the timers topic, nil meaning the empty
// set. It fails with errTimerSet for a value no writer of the topic writes:
// not JSON of a set, duplicate names, a timer without name, id or time.
func decodeTimerSet(b []byte) (timerSet, error) {
	var s timerSet
	if b == nil {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return timerSet{}, fmt.Errorf("%w: %v", errTimerSet, err)
	}
	names := map[string]bool{}
	for _, t := range s.Timers {
		if t.Name == "" || t.ID == 0 || t.At <= 0 || names[t.Name] {
			return timerSet{}, fmt.Errorf("%w: timer %q (id %d, at %d) missing, duplicated or without time", errTimerSet, t.Name, t.ID, t.At)
		}
		names[t.Name] = true
	}
	for _, f := range s.Fired {
		if f.Name == "" || f.ID == 0 || f.Offset < 0 {
			return timerSet{}, fmt.Errorf("%w: marker %q (id %d, offset %d)", errTimerSet, f.Name, f.ID, f.Offset)
		}
	}
	return s, nil
}

// newTimerID returns a random non-zero timer id.
func newTimerID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand's documented behaviour)
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}
