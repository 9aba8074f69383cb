package progress

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Defaults of a [Tracker].
const (
	// BarInterval is how often a terminal bar is redrawn.
	BarInterval = 200 * time.Millisecond
	// LogInterval is how often a log line is written when not on a terminal.
	LogInterval = 5 * time.Second
	// defaultWidth is the bar's line width when the terminal's cannot be read.
	defaultWidth = 80
)

// A Tracker counts the progress of one task and shows it. Safe for concurrent
// use; its zero value is not usable (see [New] and [Start]).
type Tracker struct {
	what     string
	done     atomic.Int64
	total    atomic.Int64
	out      io.Writer    // the terminal, nil when logging
	log      *slog.Logger // when not on a terminal
	width    int
	interval time.Duration
	now      func() time.Time
	start    time.Time

	rate rateMeter // guarded by the show goroutine; Done reads it after it exits

	stop     chan struct{}
	stopped  chan struct{}
	doneOnce sync.Once
}

// An Option configures a [Tracker].
type Option interface{ apply(*Tracker) }

type optionFunc func(*Tracker)

func (f optionFunc) apply(t *Tracker) { f(t) }

// Terminal draws a bar on w, overriding the default: a bar on the writer passed
// to [New] if it is a terminal, log lines otherwise. width is the line width (0:
// the terminal's, or 80).
func Terminal(w io.Writer, width int) Option {
	return optionFunc(func(t *Tracker) { t.out, t.width = w, width })
}

// WithLogger sets the logger of the plain lines written when not on a terminal,
// overriding the default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(t *Tracker) {
		if l != nil {
			t.log = l
		}
	})
}

// Interval sets how often progress is shown, overriding the defaults
// [BarInterval] on a terminal and [LogInterval] otherwise.
func Interval(d time.Duration) Option {
	return optionFunc(func(t *Tracker) {
		if d > 0 {
			t.interval = d
		}
	})
}

// withClock sets the clock, for tests.
func withClock(now func() time.Time) Option {
	return optionFunc(func(t *Tracker) { t.now = now })
}

// Start is [New] on standard error: the one call a command needs.
func Start(what string, total int64, opts ...Option) *Tracker {
	return New(os.Stderr, what, total, opts...)
}

// New starts tracking the task what, of total units (0 or less if unknown). If
// w is a terminal it draws a bar on w, otherwise it logs a line every
// [LogInterval] (see [WithLogger]). Call [Tracker.Done] when the task ends.
func New(w io.Writer, what string, total int64, opts ...Option) *Tracker {
	t := &Tracker{what: what, log: slog.Default(), now: time.Now, stop: make(chan struct{}), stopped: make(chan struct{})}
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		t.out = w
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			t.width = width
		}
	}
	for _, o := range opts {
		if o != nil {
			o.apply(t)
		}
	}
	if t.width <= 0 {
		t.width = defaultWidth
	}
	if t.interval <= 0 {
		t.interval = LogInterval
		if t.out != nil {
			t.interval = BarInterval
		}
	}
	t.total.Store(total)
	t.start = t.now()
	t.rate.reset(t.start)
	go t.show()
	return t
}

// Add counts n more units done.
func (t *Tracker) Add(n int64) { t.done.Add(n) }

// Set sets the units done to n.
func (t *Tracker) Set(n int64) { t.done.Store(n) }

// SetTotal sets the total, for work whose size becomes known late (0 or less:
// unknown).
func (t *Tracker) SetTotal(n int64) { t.total.Store(n) }

// Done stops showing progress and shows the final count, rate and duration
// once: the bar's last state and a newline on a terminal, a "done" log line
// otherwise. Later calls do nothing.
func (t *Tracker) Done() {
	t.doneOnce.Do(func() {
		close(t.stop)
		<-t.stopped
		now := t.now()
		done, elapsed := t.done.Load(), now.Sub(t.start)
		avg := 0.0
		if elapsed > 0 {
			avg = float64(done) / elapsed.Seconds()
		}
		if t.out != nil {
			s := snapshot{what: t.what, done: done, total: t.total.Load(), rate: avg, final: true, elapsed: elapsed}
			io.WriteString(t.out, "\r"+render(s, t.width)+"\x1b[K\n")
			return
		}
		t.log.Info(t.what+" done", "done", done, "rate_per_s", round(avg), "elapsed", elapsed.Round(time.Millisecond))
	})
}

// show redraws (or logs) at every interval until Done.
func (t *Tracker) show() {
	defer close(t.stopped)
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.showNow()
		}
	}
}

// showNow shows the current state once.
func (t *Tracker) showNow() {
	now := t.now()
	done, total := t.done.Load(), t.total.Load()
	rate := t.rate.update(now, done)
	s := snapshot{what: t.what, done: done, total: total, rate: rate, eta: eta(done, total, rate), elapsed: now.Sub(t.start)}
	if t.out != nil {
		io.WriteString(t.out, "\r"+render(s, t.width)+"\x1b[K")
		return
	}
	args := []any{"done", done}
	if total > 0 {
		args = append(args, "total", total, "percent", round(100*float64(done)/float64(total)))
	}
	args = append(args, "rate_per_s", round(rate))
	if s.eta > 0 {
		args = append(args, "eta", s.eta.Round(time.Second))
	}
	t.log.Info(t.what, args...)
}

// eta returns the time left at rate, 0 if it cannot be told.
func eta(done, total int64, rate float64) time.Duration {
	if total <= 0 || rate <= 0 || done >= total {
		return 0
	}
	return time.Duration(float64(total-done) / rate * float64(time.Second))
}

// round rounds to one decimal, for log lines people read.
func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// rateMeter is an exponentially weighted rate in units per second, so that the
// ETA follows a change of pace within a few intervals without jumping at every
// one.
type rateMeter struct {
	at    time.Time
	done  int64
	rate  float64
	valid bool
}

func (m *rateMeter) reset(now time.Time) { *m = rateMeter{at: now} }

// update takes the count done at now and returns the smoothed rate.
func (m *rateMeter) update(now time.Time, done int64) float64 {
	dt := now.Sub(m.at).Seconds()
	if dt <= 0 {
		return m.rate
	}
	r := float64(done-m.done) / dt
	if m.valid {
		const alpha = 0.3
		r = alpha*r + (1-alpha)*m.rate
	}
	m.at, m.done, m.rate, m.valid = now, done, r, true
	return r
}
