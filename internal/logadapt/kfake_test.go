package logadapt_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/logadapt"
)

// TestKfakeLevels pins the level mapping and that arguments are formatted
// printf-style, as kfake passes them.
func TestKfakeLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level kfake.LogLevel
		want  string // "" when nothing may be written
	}{
		{"error", kfake.LogLevelError, "level=ERROR msg=\"n=7\""},
		{"warn", kfake.LogLevelWarn, "level=WARN msg=\"n=7\""},
		{"info", kfake.LogLevelInfo, "level=INFO msg=\"n=7\""},
		{"debug", kfake.LogLevelDebug, "level=DEBUG msg=\"n=7\""},
		{"none", kfake.LogLevelNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level:       slog.LevelDebug,
				ReplaceAttr: dropTime,
			})
			logadapt.Kfake(slog.New(h)).Logf(tc.level, "n=%d", 7)
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Fatalf("Logf(%v) wrote %q, want %q", tc.level, got, tc.want)
			}
		})
	}
}

// TestKfakeDisabledLevelNotFormatted pins that a level the handler filters
// out costs no formatting: the argument's String method is never called.
func TestKfakeDisabledLevelNotFormatted(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var s spy
	logadapt.Kfake(l).Logf(kfake.LogLevelDebug, "%v", &s)
	if s.called || buf.Len() != 0 {
		t.Fatalf("debug message below an info handler: formatted=%v, wrote %q; want neither", s.called, buf.String())
	}
}

// TestKfakeNilLogger pins that a nil *slog.Logger discards instead of panicking.
func TestKfakeNilLogger(t *testing.T) {
	logadapt.Kfake(nil).Logf(kfake.LogLevelError, "boom")
}

type spy struct{ called bool }

func (s *spy) String() string { s.called = true; return "spy" }

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
