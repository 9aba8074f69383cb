package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/logadapt"
)

// closeLog is the kfake logger of a Broker. It forwards to slog and, once
// Close has begun, also keeps kfake's error-level messages: kfake's Close
// returns nothing and only logs a failure to write the data dir, and those
// are the only errors it logs while closing.
type closeLog struct {
	next    kfake.Logger
	closing atomic.Bool

	mu struct {
		sync.Mutex
		errs []error
	}
}

func newCloseLog(l *slog.Logger) *closeLog {
	return &closeLog{next: logadapt.Kfake(l)}
}

// Logf implements kfake.Logger.
func (l *closeLog) Logf(level kfake.LogLevel, format string, args ...any) {
	l.next.Logf(level, format, args...)
	if level == kfake.LogLevelError && l.closing.Load() {
		l.mu.Lock()
		l.mu.errs = append(l.mu.errs, fmt.Errorf(format, args...))
		l.mu.Unlock()
	}
}

// errs returns the errors kept since Close began, joined.
func (l *closeLog) errs() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.mu.errs...)
}
