package tables

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's log messages to a slog.Logger.
type pebbleLogger struct{ l *slog.Logger }

// Infof logs at Debug: Pebble reports every flush, compaction and WAL replay,
// which an operator of a goka processor does not need by default.
func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug(fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf is Pebble's report of a broken invariant, after which Pebble expects
// not to continue; its default logger exits the process. A panic keeps the
// message and the stack and lets the program decide.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic("tables: pebble: " + msg)
}
