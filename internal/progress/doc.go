// Package progress reports the progress of long work (recovery, replay, a
// generator): a bar with count, rate and ETA when the output is a terminal, and
// plain periodic log lines when it is not (a file, a pipe, CI).
//
// # Usage
//
//	p := progress.Start("replaying", int64(len(records))) // stderr, or slog.Default() lines
//	defer p.Done()
//	for _, r := range records {
//		replay(r)
//		p.Add(1)
//	}
//
// [Add] is an atomic add: it may be called per record from any goroutine. A
// goroutine redraws the bar (or logs a line) at an interval until [Tracker.Done].
package progress
