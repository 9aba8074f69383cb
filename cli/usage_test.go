package cli_test

import (
	"strings"
	"testing"
)

// TestUsageErrors pins what a mistake on the command line, in the environment or
// in the topology gets: exit status 2, nothing on stdout, and exactly one line on
// stderr that names what to fix, with no usage dump.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		graph string
		env   []string
		args  []string
		want  []string // substrings of the one stderr line
	}{
		{"unknown flag", "", nil, []string{"run", "--bogus"}, []string{"--bogus", "run --help"}},
		{"unknown shorthand", "", nil, []string{"graph", "-x"}, []string{"'x'"}},
		{"unknown agent", "", nil, []string{"run", "--agents", "counter,nope"},
			[]string{`unknown agent "nope"`, `["counter"]`, "--agents", "describe"}},
		{"unknown agent from env", "", []string{"SLUICE_AGENTS=nope"}, []string{"run"}, []string{`unknown agent "nope"`}},
		{"bad format", "", nil, []string{"graph", "--format", "svg"}, []string{`"svg"`, "--format", "mermaid, dot"}},
		{"bad format from env", "", []string{"SLUICE_FORMAT=svg"}, []string{"graph"}, []string{`SLUICE_FORMAT="svg"`, "mermaid, dot"}},
		{"bad listen", "", nil, []string{"run", "--listen", "nonsense"}, []string{"--listen", "host:port"}},
		{"bad listen port", "nil", nil, []string{"broker", "--listen", "127.0.0.1:99999"}, []string{"--listen", "0-65535"}},
		{"bad listen from env", "nil", []string{"SLUICE_LISTEN=nonsense"}, []string{"broker"}, []string{"SLUICE_LISTEN", "host:port"}},
		{"bad replication", "", nil, []string{"topics", "--replication", "-1"}, []string{"--replication", "whole number"}},
		{"replication without cluster", "", nil, []string{"run", "--replication", "3"}, []string{"--replication 3", "--brokers"}},
		{"bad log level", "nil", nil, []string{"broker", "--log-level", "loud"}, []string{"--log-level", "debug, info, warn, error"}},
		{"unknown command", "", nil, []string{"rnu"}, []string{`"rnu"`, `"run"`}},
		{"stray argument", "", nil, []string{"describe", "extra"}, []string{`"extra"`, "describe --help"}},
		{"invalid graph", "invalid", nil, []string{"run"}, []string{"invalid topology", `"idle"`, "no input"}},
		{"run without graph", "nil", nil, []string{"run"}, []string{`unknown command "run"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, tc.graph, tc.env, tc.args...)
			if code != 2 {
				t.Errorf("exit status = %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "sluice: ") {
				t.Fatalf("stderr = %q, want one line starting with %q", stderr, "sluice: ")
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr = %q, want it to contain %q", lines[0], w)
				}
			}
		})
	}
}

// TestHelpDocumentsEnvironment pins that --help names the environment variable
// of every flag.
func TestHelpDocumentsEnvironment(t *testing.T) {
	t.Parallel()
	for cmd, vars := range map[string][]string{
		"run":    {"SLUICE_AGENTS", "SLUICE_BROKERS", "SLUICE_DATA_DIR", "SLUICE_LISTEN", "SLUICE_REPLICATION", "SLUICE_LOG_LEVEL"},
		"topics": {"SLUICE_BROKERS", "SLUICE_DATA_DIR", "SLUICE_LISTEN", "SLUICE_REPLICATION", "SLUICE_LOG_LEVEL"},
		"graph":  {"SLUICE_FORMAT"},
		"broker": {"SLUICE_DATA_DIR", "SLUICE_LISTEN", "SLUICE_LOG_LEVEL"},
	} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, "", nil, cmd, "--help")
			if code != 0 || stderr != "" {
				t.Fatalf("%s --help: exit status %d, stderr %q; want 0 and nothing", cmd, code, stderr)
			}
			for _, v := range vars {
				if !strings.Contains(stdout, "(env "+v+")") {
					t.Errorf("%s --help does not mention %s:\n%s", cmd, v, stdout)
				}
			}
		})
	}
}

// TestGenericBinary pins that the generic sluice binary (no graph) offers only
// the commands that need none.
func TestGenericBinary(t *testing.T) {
	t.Parallel()
	stdout, _, code := run(t, "nil", nil, "--help")
	if code != 0 {
		t.Fatalf("--help: exit status %d, want 0", code)
	}
	for _, c := range []string{"broker", "version"} {
		if !strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("--help does not list %q:\n%s", c, stdout)
		}
	}
	for _, c := range []string{"run", "describe", "graph", "topics"} {
		if strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("--help lists %q, which needs a graph:\n%s", c, stdout)
		}
	}
	if !strings.Contains(stdout, "SLUICE_LISTEN") || strings.Contains(stdout, "SLUICE_AGENTS") {
		t.Errorf("--help should list the variables of broker's flags only:\n%s", stdout)
	}
}
