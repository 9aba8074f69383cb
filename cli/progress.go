package cli

import (
	"io"
	"log/slog"

	"github.com/sluicehq/sluice/internal/progress"
)

// Progress shows the progress of long work in a command (a generator, a
// replay): a bar with count, rate and ETA when w is a terminal, and a log line
// every few seconds otherwise. Safe for concurrent use.
type Progress struct{ t *progress.Tracker }

// StartProgress starts showing the progress of the task what, of total units (0
// or less if unknown), on w: a command's standard error, c.ErrOrStderr(). Call
// [Progress.Done] when the work ends.
func StartProgress(w io.Writer, what string, total int64) *Progress {
	return &Progress{t: progress.New(w, what, total, progress.WithLogger(slog.New(slog.NewTextHandler(w, nil))))}
}

// Add counts n more units done; cheap enough to call per record.
func (p *Progress) Add(n int64) { p.t.Add(n) }

// SetTotal sets the total once it is known (0 or less: unknown).
func (p *Progress) SetTotal(n int64) { p.t.SetTotal(n) }

// Done stops showing progress and shows the final count, rate and duration.
func (p *Progress) Done() { p.t.Done() }
