package topologytest

import (
	"time"

	"github.com/lovoo/goka/tester"
)

// clock is the agents' clock.
func (h *Harness) clock() time.Time { return *h.now.Load() }

// Now returns the time of the harness's clock: what agents' Context.Now
// returns. It starts at [DefaultStart] (or [Clock]'s time) and moves only
// with [Advance].
func Now(h *Harness) time.Time { return h.clock() }

// Advance moves the harness's clock forward by d and fires, in the order of
// their times, every wall-clock timer that comes due on the way: for each, the
// clock stands at the timer's time (or later, if an earlier timer's handler
// ran at a later time) while its handler runs, as it would on Kafka, and a
// timer a handler sets within the advance fires within it too. (A timer set
// for the current time or earlier fires at once, without Advance: [Consume]
// fires it before it returns.) Every agent
// downstream of a fired timer has handled what it emitted before Advance
// returns. A negative d is a mistake the test is failed for.
//
// Stream-time timers need no clock: they fire when a record fed with a
// timestamp ([WithTime]) moves the partition's stream time past them.
func Advance(h *Harness, d time.Duration) {
	h.t.Helper()
	if d < 0 {
		h.fatalf("Advance", "negative duration %s: the clock only moves forward", d)
	}
	h.fireUntil("Advance", h.clock().Add(d))
}

// fireUntil fires the wall-clock timers due up to target, moving the clock to
// each one's time as it fires, and leaves the clock at target.
func (h *Harness) fireUntil(op string, target time.Time) {
	h.t.Helper()
	for {
		next, ok := h.nextTimer()
		if !ok || next.After(target) {
			break
		}
		if next.After(h.clock()) {
			h.now.Store(&next)
		}
		for _, a := range h.loops {
			for _, r := range a.Due(h.clock()) {
				h.tt.Consume(a.Loop, r.Key, r.Value, tester.WithHeaders(r.Headers))
				h.check(op)
			}
		}
	}
	h.now.Store(&target)
}

// nextTimer returns the time of the earliest wall-clock timer of any agent.
func (h *Harness) nextTimer() (time.Time, bool) {
	var next time.Time
	found := false
	for _, a := range h.loops {
		if t, ok := a.Next(); ok && (!found || t.Before(next)) {
			next, found = t, true
		}
	}
	return next, found
}
