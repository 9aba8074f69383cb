package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// State is the agent's table value for one key: the key's stream time and what
// its open windows need. Times are milliseconds since the Unix epoch, Kafka's
// timestamp unit.
//
// It stays bounded: a window leaves Windows when it closes, and an event
// leaves Events when no window that is open, or could still open, contains it.
// What remains of a key whose records stopped is its stream time and the windows
// open at its last record.
type State struct {
	// StreamTime is the largest record timestamp the key has seen.
	StreamTime int64
	// Windows are the open windows of [Tumbling] and [Hopping] aggregations, by
	// Start.
	Windows []Aggregate
	// Events are the records a [Sliding] aggregation keeps, by Time (records with
	// equal times in arrival order).
	Events []Event
	// Sessions are the open sessions of a [Session] aggregation, by Start.
	Sessions []OpenSession
}

// OpenSession is an open session: the aggregate of its records, Start its first
// record's time and End its last's, in milliseconds since the Unix epoch.
type OpenSession struct {
	Aggregate
	End int64
}

// Aggregate is the running aggregate of one window.
type Aggregate struct {
	// Start is the window's start, in milliseconds since the Unix epoch.
	Start int64
	// Count is the number of records in the window; Sum, Min and Max aggregate
	// their values.
	Count         int64
	Sum, Min, Max float64
}

// add adds value v to a.
func (a *Aggregate) add(v float64) {
	if a.Count == 0 || v < a.Min {
		a.Min = v
	}
	if a.Count == 0 || v > a.Max {
		a.Max = v
	}
	a.Count++
	a.Sum += v
}

// Event is a record a [Sliding] aggregation keeps: its timestamp in milliseconds
// since the Unix epoch, and its value.
type Event struct {
	Time  int64
	Value float64
}

// StateCodec returns the codec of the agent's table: a compact binary encoding
// (a version byte, varints, and float64 bits), about a third the size of JSON
// and several times faster, since a window agent reads and writes its state on
// every record. Decode rejects anything Encode would not produce.
func StateCodec() topology.Codec[State] { return stateCodec{} }

type stateCodec struct{}

// stateVersion is the first byte of an encoded State without sessions:
// tables written before sessions existed decode as they did.
// stateVersionSessions is that of one with sessions, which follow the events.
const (
	stateVersion         = 1
	stateVersionSessions = 2
)

// Sizes, in bytes, bounding how many windows or events the rest of a value can
// hold, so that a corrupt length cannot make Decode allocate much.
const (
	minAggregateSize = 1 + 1 + 3*8
	minEventSize     = 1 + 8
	minSessionSize   = minAggregateSize + 1
)

func (stateCodec) Encode(s State) ([]byte, error) {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+
		binary.MaxVarintLen64+len(s.Windows)*(2*binary.MaxVarintLen64+24)+
		binary.MaxVarintLen64+len(s.Events)*(binary.MaxVarintLen64+8))
	version := byte(stateVersion)
	if len(s.Sessions) > 0 {
		version = stateVersionSessions
	}
	b = append(b, version)
	b = binary.AppendVarint(b, s.StreamTime)
	b = binary.AppendUvarint(b, uint64(len(s.Windows)))
	var err error
	for _, w := range s.Windows {
		if b, err = appendAggregate(b, w); err != nil {
			return nil, err
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Events)))
	prev := int64(0)
	for _, e := range s.Events {
		b = binary.AppendVarint(b, e.Time-prev) // deltas: events are close in time
		prev = e.Time
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Value))
	}
	if version == stateVersionSessions {
		b = binary.AppendUvarint(b, uint64(len(s.Sessions)))
		for _, ss := range s.Sessions {
			if b, err = appendAggregate(b, ss.Aggregate); err != nil {
				return nil, err
			}
			b = binary.AppendVarint(b, ss.End-ss.Start) // a session's length, not its end: small
		}
	}
	return b, nil
}

// appendAggregate appends the encoding of a to b.
func appendAggregate(b []byte, a Aggregate) ([]byte, error) {
	if a.Count < 0 {
		return nil, fmt.Errorf("window: encode state: window at %d has count %d", a.Start, a.Count)
	}
	b = binary.AppendVarint(b, a.Start)
	b = binary.AppendUvarint(b, uint64(a.Count))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Sum))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Min))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Max))
	return b, nil
}

var errState = errors.New("window: malformed state")

func (stateCodec) Decode(b []byte) (State, error) {
	d := decoder{b: b}
	var s State
	v := d.byte()
	if d.err == nil && v != stateVersion && v != stateVersionSessions {
		return State{}, fmt.Errorf("%w: version %d, want %d or %d", errState, v, stateVersion, stateVersionSessions)
	}
	s.StreamTime = d.varint()
	if n := d.count(minAggregateSize); n > 0 {
		s.Windows = make([]Aggregate, n)
		for i := range s.Windows {
			s.Windows[i] = d.aggregate()
		}
	}
	if n := d.count(minEventSize); n > 0 {
		s.Events = make([]Event, n)
		prev := int64(0)
		for i := range s.Events {
			prev += d.varint()
			s.Events[i] = Event{Time: prev, Value: d.float()}
		}
	}
	if v == stateVersionSessions {
		n := d.count(minSessionSize)
		if d.err == nil && n == 0 {
			d.fail("version 2 without sessions") // Encode writes version 1 then
		}
		if n > 0 {
			s.Sessions = make([]OpenSession, n)
			for i := range s.Sessions {
				a := d.aggregate()
				length := d.varint()
				if length < 0 {
					d.fail("session of negative length")
				}
				s.Sessions[i] = OpenSession{Aggregate: a, End: a.Start + length}
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Sprintf("%d bytes after the end", len(d.b)))
	}
	if d.err != nil {
		return State{}, d.err
	}
	return s, nil
}

// decoder reads a State's fields, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errState, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length whose items take at least size bytes each.
func (d *decoder) count(size int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/size) {
		d.fail(fmt.Sprintf("%d items in %d bytes", n, len(d.b)))
		return 0
	}
	return int(n)
}

// aggregate reads an Aggregate.
func (d *decoder) aggregate() Aggregate {
	var a Aggregate
	a.Start = d.varint()
	c := d.uvarint()
	if c > math.MaxInt64 {
		d.fail("count overflows")
	}
	a.Count = int64(c)
	a.Sum, a.Min, a.Max = d.float(), d.float(), d.float()
	return a
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// millis converts milliseconds since the Unix epoch to a UTC time.
func millis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
