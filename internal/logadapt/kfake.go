package logadapt

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kfake returns a kfake.Logger writing to l. kfake's levels map to the slog
// levels of the same name and messages at kfake.LogLevelNone are dropped.
// kfake's messages are printf formats, formatted only when l is enabled at
// their level. A nil l discards everything. The logger is safe for
// concurrent use if l's handler is.
func Kfake(l *slog.Logger) kfake.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return kfakeLogger{l}
}

type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	sl, ok := kfakeLevel(level)
	if !ok {
		return
	}
	ctx := context.Background()
	if !k.l.Enabled(ctx, sl) {
		return
	}
	k.l.Log(ctx, sl, fmt.Sprintf(format, args...))
}

// kfakeLevel maps a kfake level to slog; ok is false for levels that must
// not be logged.
func kfakeLevel(l kfake.LogLevel) (level slog.Level, ok bool) {
	switch l {
	case kfake.LogLevelError:
		return slog.LevelError, true
	case kfake.LogLevelWarn:
		return slog.LevelWarn, true
	case kfake.LogLevelInfo:
		return slog.LevelInfo, true
	case kfake.LogLevelDebug:
		return slog.LevelDebug, true
	default:
		return 0, false
	}
}
