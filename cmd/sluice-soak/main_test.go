package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestUsageErrors pins that a bad flag stops each command before anything
// runs, with exit status 2 and one line that says what to fix.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no records", []string{"run", "--records", "0"}, "--records 0"},
		{"negative kills", []string{"run", "--kills", "-1"}, "want 0 or more"},
		{"short cap", []string{"run", "--duration-cap", "1m"}, "--duration-cap 1m0s"},
		{"zero interval", []string{"run", "--interval", "0s"}, "--interval"},
		{"bad log level", []string{"run", "--log-level", "loud"}, "--log-level"},
		{"not a number", []string{"run", "--records", "many"}, "invalid argument"},
		{"unknown agent", []string{"agent", "--name", "third", "--brokers", "127.0.0.1:1", "--data-dir", "x"}, `--name "third"`},
		{"agent without brokers", []string{"agent", "--name", "first", "--data-dir", "x"}, "--brokers is required"},
		{"agent without data dir", []string{"agent", "--name", "first", "--brokers", "127.0.0.1:1"}, "--data-dir is required"},
		{"verify without brokers", []string{"verify"}, "--brokers is required"},
		{"stray argument", []string{"run", "now"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := program.Run(t.Context(), tc.args, &out, &errb)
			if code != 2 {
				t.Errorf("exit status = %d, want 2; stderr %q", code, errb.String())
			}
			if s := errb.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", s, tc.want)
			}
		})
	}
}

// TestHelp pins that the binary without arguments prints its help, naming
// the soak's commands, and exits 0.
func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := program.Run(t.Context(), nil, &out, &errb); code != 0 {
		t.Fatalf("exit status = %d, want 0; stderr %q", code, errb.String())
	}
	for _, cmd := range []string{"run", "agent", "verify", "broker"} {
		if !strings.Contains(out.String(), "  "+cmd) {
			t.Errorf("help does not list %s:\n%s", cmd, out.String())
		}
	}
}
