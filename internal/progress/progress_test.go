package progress

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
)

// clock returns a fake clock that starts at t0 and advances step at each call
// after the first.
func clock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t, first := time.Unix(1000, 0), true
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if !first {
			t = t.Add(step)
		}
		first = false
		return t
	}
}

// textLogger logs to w as text without the time, so lines compare exactly.
func textLogger(w *proctest.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// TestLogLines pins the plain output for a writer that is not a terminal: one
// log line per interval with count, total, percent, rate and ETA, and a final
// "done" line with the average rate.
func TestLogLines(t *testing.T) {
	var out, logs proctest.Buffer
	p := New(&out, "replaying", 100, WithLogger(textLogger(&logs)), Interval(time.Hour), withClock(clock(time.Second)))
	p.Add(50)
	p.showNow() // 1 s in: 50/s, 50 to go
	p.Add(10)
	p.showNow() // 2 s in: 10/s now, smoothed 0.3*10+0.7*50 = 38/s
	p.Done()    // 3 s in: 60 in 3 s
	p.Done()    // once only
	want := `level=INFO msg=replaying done=50 total=100 percent=50 rate_per_s=50 eta=1s
level=INFO msg=replaying done=60 total=100 percent=60 rate_per_s=38 eta=1s
level=INFO msg="replaying done" done=60 rate_per_s=20 elapsed=3s
`
	if got := logs.String(); got != want {
		t.Errorf("log lines:\n%s\nwant:\n%s", got, want)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal writer, want nothing: progress goes to the log", out.String())
	}
}

// TestBarOnTerminal pins the bar as a terminal receives it: each redraw starts
// with a carriage return and ends by clearing the rest of the line, and Done
// leaves the final state on its own line.
func TestBarOnTerminal(t *testing.T) {
	var term proctest.Buffer
	p := New(nil, "restoring", 200, Terminal(&term, 72), Interval(time.Hour), withClock(clock(time.Second)))
	p.Add(50)
	p.showNow()
	p.Add(150)
	p.Done()
	want := "\rrestoring [=======>                         ]  25%  50/200  50/s  ETA 3s\x1b[K" +
		"\rrestoring [================================] 100%  200/200  100/s  in 2s\x1b[K\n"
	if got := term.String(); got != want {
		t.Errorf("terminal got\n%q\nwant\n%q", got, want)
	}
}

// TestTicker runs the real ticker: lines appear without showNow being called,
// and Done stops the goroutine (goleak checks it has exited).
func TestTicker(t *testing.T) {
	var logs proctest.Buffer
	p := New(nil, "generating", 0, WithLogger(textLogger(&logs)), Interval(time.Millisecond))
	p.Add(3)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "done=3") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line within 30 s; got %q", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	p.Done()
	if !strings.Contains(logs.String(), `msg="generating done" done=3`) {
		t.Errorf("no final line in %q", logs.String())
	}
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     snapshot
		width int
		want  string
	}{
		{"empty", snapshot{what: "w", total: 10}, 40, "w [                    ]   0%  0/10  0/s"},
		{"half", snapshot{what: "w", done: 5, total: 10, rate: 2.4, eta: 3 * time.Second}, 50, "w [==========>           ]  50%  5/10  2/s  ETA 3s"},
		{"over", snapshot{what: "w", done: 12, total: 10}, 40, "w [===================] 100%  12/10  0/s"},
		{"big numbers", snapshot{what: "w", done: 1_234_567, total: 20_000_000, rate: 45_678, eta: 421 * time.Second}, 80,
			"w [=>                                    ]   6%  1234.6k/20M  45.7k/s  ETA 7m01s"},
		{"unknown total", snapshot{what: "gen", done: 42, rate: 7, eta: time.Hour}, 40, "gen 42  7/s  ETA 1h00m"},
		{"too narrow for a bar", snapshot{what: "w", done: 5, total: 10}, 20, "w 50%  5/10  0/s"},
		{"clipped", snapshot{what: "a-long-task-name", done: 5, total: 10}, 12, "a-long-task-"},
		{"final", snapshot{what: "w", done: 10, total: 10, rate: 5, elapsed: 2*time.Hour + 3*time.Minute, final: true}, 50, "w [===================] 100%  10/10  5/s  in 2h03m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(tc.s, tc.width)
			if got != tc.want {
				t.Errorf("render = %q, want %q", got, tc.want)
			}
			if len([]rune(got)) > tc.width {
				t.Errorf("render is %d wide, want at most %d", len([]rune(got)), tc.width)
			}
		})
	}
}
