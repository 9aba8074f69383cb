package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// idleTimer is the name of the timer that closes a key's windows by the wall
// clock (see Config.Idle).
const idleTimer = "idle-close"

// armIdle sets the key's idle timer after a record that left its stream time
// at streamTime, the wall clock at now: it fires when the wall clock, Idle
// behind, would have moved the stream time to the close of the key's next
// window. It cancels the timer when no window is open.
func (w *windower[In]) armIdle(c *topology.Context[State], st State, streamTime int64, now time.Time) error {
	if w.idle <= 0 {
		return nil
	}
	return w.armIdleFrom(c, st, streamTime, now.UnixMilli())
}

// armIdleFrom sets the idle timer for the stream time base at wall time
// wall (Unix ms), the key's last record's.
func (w *windower[In]) armIdleFrom(c *topology.Context[State], st State, base, wall int64) error {
	next, ok := w.nextClose(st)
	if !ok {
		return c.CancelTimer(idleTimer)
	}
	at := time.UnixMilli(wall + w.idle + (next - base))
	return c.SetTimer(topology.Timer{Name: idleTimer, At: at, Data: fmt.Appendf(nil, "%d,%d", base, wall)})
}

// idleTimer closes the windows of the key that the wall clock closed: the
// key's stream time becomes its last record's plus the wall time since,
// less Idle.
func (w *windower[In]) idleTimer(c *topology.Context[State], key string, t topology.Timer) error {
	if t.Name != idleTimer {
		return nil
	}
	a, b, ok := strings.Cut(string(t.Data), ",")
	base, err1 := strconv.ParseInt(a, 10, 64)
	wall, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("window: idle timer of %q with data %q: %w", key, t.Data, topology.ErrPermanent)
	}
	st, found, err := c.State()
	if err != nil || !found {
		return err
	}
	finals := w.advanceTo(&st, base+c.Now().UnixMilli()-wall-w.idle)
	if len(finals) > 0 {
		if err := c.SetState(st); err != nil {
			return err
		}
	}
	if w.finals {
		for _, r := range finals {
			if err := topology.Emit(c, w.output, key, r); err != nil {
				return err
			}
		}
		w.metrics.finals.Add(int64(len(finals)))
	}
	return w.armIdleFrom(c, st, base, wall)
}
