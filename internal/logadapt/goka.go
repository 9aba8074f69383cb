package logadapt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"
)

// Goka returns a goka.Logger writing to l at debug level: goka logs its partition
// and rebalance chatter through Printf, none of which is an event a user acts on.
// sluice logs the events that matter (failures, restarts) itself.
func Goka(l *slog.Logger) goka.Logger { return gokaLogger{l} }

type gokaLogger struct{ l *slog.Logger }

// log formats with format only if debug logging is on: goka logs a line per
// partition on every rebalance, which a discarding logger should not format.
func (g gokaLogger) log(format func() string) {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		g.l.Debug(strings.TrimSpace(format()), "source", "goka")
	}
}

func (g gokaLogger) Print(v ...any)   { g.log(func() string { return fmt.Sprint(v...) }) }
func (g gokaLogger) Println(v ...any) { g.log(func() string { return fmt.Sprintln(v...) }) }
func (g gokaLogger) Printf(format string, v ...any) {
	g.log(func() string { return fmt.Sprintf(format, v...) })
}
