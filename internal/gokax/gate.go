package gokax

import (
	"context"
	"fmt"
	"sync"
)

// errStopping is returned by [Msg.Lookup] once its processor is stopping. It
// wraps context.Canceled: the record is left unprocessed, to be read again.
var errStopping = fmt.Errorf("gokax: processor stopping: %w", context.Canceled)

// lookupGate orders a processor's lookups before its stop. goka closes a
// lookup table's view as soon as the processor's context is done, while its
// partition processors may still be handling records, and a lookup then races
// with the close (goka v1.1.17: View.close writes the partitions View.Get
// reads; the race detector stopped a visa level with it at SIGTERM). So
// [Processor.Run] takes the gate before it cancels goka's context: every
// lookup before that happens before the close, and a lookup after it fails
// with errStopping instead of reading a closed view. A processor that fails by
// itself still closes its views unordered: goka cancels them from inside.
type lookupGate struct {
	mu      sync.RWMutex
	stopped bool
}

// enter reports whether a lookup may go on; if so, leave must follow it.
func (g *lookupGate) enter() bool {
	g.mu.RLock()
	if g.stopped {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *lookupGate) leave() { g.mu.RUnlock() }

// stop waits for the lookups under way and turns away those to come.
func (g *lookupGate) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}
