package window

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// Kind is the shape of a window: how windows are laid out on event time.
type Kind int

const (
	// Tumbling windows are fixed-size, non-overlapping and aligned to the Unix
	// epoch: [k*Size, (k+1)*Size). Each record falls in exactly one.
	Tumbling Kind = iota
	// Hopping windows are fixed-size windows that start every Advance, aligned to
	// the epoch: [k*Advance, k*Advance+Size). A record falls in about
	// Size/Advance of them.
	Hopping
	// Sliding windows end at records: each distinct record timestamp t of a key
	// defines the window (t-Size, t], which holds the records of the key within
	// Size before it ("the last hour as of this event"). It is reported as
	// [Start, End) with End = t + 1ms. Their state keeps the key's records of the
	// last Size+Grace, not aggregates.
	Sliding
	// Session windows are a key's bursts of activity: records less than Gap
	// apart are in one session, whatever its length. A session [s, e] (its
	// first and last record) is reported as [Start, End) = [s, e+1ms). A record
	// within Gap of open sessions joins them: a record between two merges them
	// into one, whose result supersedes theirs. A session closes when the key's
	// stream time reaches e+Gap+Grace: no record can join it any more.
	Session
)

// String returns "tumbling", "hopping", "sliding" or "session".
func (k Kind) String() string {
	switch k {
	case Tumbling:
		return "tumbling"
	case Hopping:
		return "hopping"
	case Sliding:
		return "sliding"
	case Session:
		return "session"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Aggregation names the aggregate a [Result] carries as its Value. Every result
// carries count, sum, min and max as well: they cost the same to keep.
type Aggregation int

const (
	// Count is the number of records in the window.
	Count Aggregation = iota
	// Sum is the sum of their values.
	Sum
	// Avg is Sum / Count.
	Avg
	// Min is the smallest value.
	Min
	// Max is the largest value.
	Max
)

var aggregationNames = [...]string{Count: "count", Sum: "sum", Avg: "avg", Min: "min", Max: "max"}

// String returns "count", "sum", "avg", "min" or "max".
func (a Aggregation) String() string {
	if a >= 0 && int(a) < len(aggregationNames) {
		return aggregationNames[a]
	}
	return fmt.Sprintf("Aggregation(%d)", int(a))
}

// MarshalText encodes a as its name, so that results read well as JSON.
func (a Aggregation) MarshalText() ([]byte, error) {
	if a < 0 || int(a) >= len(aggregationNames) {
		return nil, fmt.Errorf("window: unknown aggregation %d", int(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes the name of an aggregation.
func (a *Aggregation) UnmarshalText(b []byte) error {
	for i, n := range aggregationNames {
		if string(b) == n {
			*a = Aggregation(i)
			return nil
		}
	}
	return fmt.Errorf("window: unknown aggregation %q, want one of %q", b, aggregationNames)
}

// Config declares a windowed aggregation: an agent that reads Input, puts each
// record in the windows of its key that contain its timestamp, and emits the
// windows' aggregates to Output. A Config is a plain value; [New] validates it.
type Config[In any] struct {
	// Name is the agent's name (its consumer group, and the prefix of its table
	// and dead-letter topics).
	Name string
	// Input is the stream to aggregate, keyed by what is aggregated (a user, a
	// card). Records are placed by their timestamp, the Kafka record timestamp.
	Input topology.Stream[In]
	// Value extracts the number to aggregate from a record. It may be nil only
	// for [Count]. A value that is NaN or infinite is bad data: the record goes
	// to the dead-letter topic.
	Value func(In) float64

	// Kind is the shape of the windows; the zero value is [Tumbling].
	Kind Kind
	// Size is the length of a window, at least 1ms, in whole milliseconds. It
	// must be 0 for [Session] windows, whose length is their records'.
	Size time.Duration
	// Advance is how far apart [Hopping] windows start: more than 0 and at most
	// Size, in whole milliseconds. It must be 0 (or Size) for [Tumbling] and 0 for
	// [Sliding].
	Advance time.Duration
	// Gap is the inactivity gap of [Session] windows: records of a key less
	// than Gap apart are in one session. At least 1ms, in whole milliseconds,
	// for sessions; 0 for other kinds.
	Gap time.Duration
	// Grace is how long after its end a window still accepts late records, in the
	// key's stream time (see the package documentation); 0 closes a window as
	// soon as a record at or past its end arrives.
	Grace time.Duration
	// Idle, if more than 0, also closes a key's windows by the wall clock
	// when its records stop: after a key's last record its stream time is
	// taken to advance with the wall clock, Idle behind it, so a window
	// closes (its final result emitted, its state freed) at most Idle after
	// the wall clock passes the moment its records, had they kept coming in
	// real time, would have closed it. A record of the key starts the count
	// again. 0, the default, closes windows only when a record of the key
	// moves its stream time: a key that falls silent keeps its last windows
	// open. It uses the agent's timers (topology.Agent.OnTimer), whose
	// records pass through the agent's loop topic.
	Idle time.Duration
	// Aggregation is the aggregate [Result.Value] carries; the zero value is
	// [Count].
	Aggregation Aggregation

	// Output receives a [Result] under the record's key for every window a
	// record updates (unless FinalOnly), and, with EmitFinal, one final Result
	// per window when it closes. Required.
	Output topology.Stream[Result]
	// Late receives, under the record's key, every record that arrives after the
	// first window containing it closed (see the package documentation). Late
	// records are never dropped silently. Required.
	Late topology.Stream[LateRecord[In]]
	// EmitFinal also emits each window's final result, with Final set, once
	// the key's stream time passes the window's end plus Grace.
	EmitFinal bool
	// FinalOnly emits only final results, not one per update. It requires
	// EmitFinal.
	FinalOnly bool

	// Metrics, if set, counts what the agent does. One Metrics may serve several
	// agents; it is safe for concurrent use.
	Metrics *Metrics
}

// ErrConfig is returned by [New], wrapped with what to fix, for an invalid
// [Config].
var ErrConfig = errors.New("window: invalid config")

// Errors of a record the agent cannot aggregate. They wrap
// [topology.ErrPermanent]: the record goes to the agent's dead-letter topic at
// once, with the error as its reason.
var (
	// ErrNoTimestamp: the record has no timestamp, or one before the Unix epoch,
	// so it has no place on event time.
	ErrNoTimestamp = fmt.Errorf("window: record has no timestamp: %w", topology.ErrPermanent)
	// ErrBadValue: Config.Value returned NaN or an infinity.
	ErrBadValue = fmt.Errorf("window: value is not a finite number: %w", topology.ErrPermanent)
)

// spec is a validated Config in milliseconds.
type spec struct {
	kind                            Kind
	size, advance, grace, gap, idle int64
	agg                             Aggregation
	updates, finals                 bool
}

func (c *Config[In]) validate() (spec, error) {
	bad := func(format string, args ...any) (spec, error) {
		return spec{}, fmt.Errorf("window %q: %s: %w", c.Name, fmt.Sprintf(format, args...), ErrConfig)
	}
	ms := func(d time.Duration) bool { return d%time.Millisecond == 0 }
	switch {
	case c.Name == "":
		return bad("Name is empty")
	case c.Input.Name == "":
		return bad("Input has no name")
	case c.Output.Name == "":
		return bad("Output has no name")
	case c.Late.Name == "":
		return bad("Late has no name: late records must go somewhere")
	case c.Kind != Session && (c.Size < time.Millisecond || !ms(c.Size)):
		return bad("Size %v: want at least 1ms, in whole milliseconds", c.Size)
	case c.Kind != Session && c.Gap != 0:
		return bad("Gap %v: only session windows have a gap; leave it 0", c.Gap)
	case c.Idle < 0 || !ms(c.Idle):
		return bad("Idle %v: want 0 (off) or more, in whole milliseconds", c.Idle)
	case c.Grace < 0 || !ms(c.Grace):
		return bad("Grace %v: want 0 or more, in whole milliseconds", c.Grace)
	case c.Aggregation < Count || c.Aggregation > Max:
		return bad("unknown Aggregation %d", int(c.Aggregation))
	case c.Value == nil && c.Aggregation != Count:
		return bad("Value is nil: %s needs a value per record", c.Aggregation)
	case c.FinalOnly && !c.EmitFinal:
		return bad("FinalOnly without EmitFinal would emit nothing")
	}
	s := spec{kind: c.Kind, size: c.Size.Milliseconds(), grace: c.Grace.Milliseconds(),
		agg: c.Aggregation, updates: !c.FinalOnly, finals: c.EmitFinal, idle: c.Idle.Milliseconds()}
	switch c.Kind {
	case Tumbling:
		if c.Advance != 0 && c.Advance != c.Size {
			return bad("Advance %v: tumbling windows advance by Size; use Hopping", c.Advance)
		}
		s.advance = s.size
	case Hopping:
		if c.Advance < time.Millisecond || c.Advance > c.Size || !ms(c.Advance) {
			return bad("Advance %v: hopping windows want 1ms to Size (%v), in whole milliseconds", c.Advance, c.Size)
		}
		s.advance = c.Advance.Milliseconds()
	case Sliding:
		if c.Advance != 0 {
			return bad("Advance %v: sliding windows move with each record; leave it 0", c.Advance)
		}
	case Session:
		switch {
		case c.Size != 0 || c.Advance != 0:
			return bad("Size %v, Advance %v: session windows last as long as their records; leave both 0 and set Gap", c.Size, c.Advance)
		case c.Gap < time.Millisecond || !ms(c.Gap):
			return bad("Gap %v: session windows want at least 1ms, in whole milliseconds", c.Gap)
		}
		s.gap = c.Gap.Milliseconds()
	default:
		return bad("unknown Kind %d", int(c.Kind))
	}
	return s, nil
}
