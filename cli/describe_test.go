package cli_test

import (
	"strings"
	"testing"
)

// TestDrawings pins that describe and graph print the graph's own description
// and drawings, and that SLUICE_FORMAT picks the format unless --format is given.
func TestDrawings(t *testing.T) {
	t.Parallel()
	g := testGraph()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"describe", nil, []string{"describe"}, g.Describe()},
		{"graph default", nil, []string{"graph"}, g.Mermaid()},
		{"graph mermaid", nil, []string{"graph", "--format", "mermaid"}, g.Mermaid()},
		{"graph dot", nil, []string{"graph", "--format=dot"}, g.DOT()},
		{"env format", []string{"SLUICE_FORMAT=dot"}, []string{"graph"}, g.DOT()},
		{"flag over env", []string{"SLUICE_FORMAT=dot"}, []string{"graph", "--format", "mermaid"}, g.Mermaid()},
		{"env ignored by describe", []string{"SLUICE_FORMAT=dot"}, []string{"describe"}, g.Describe()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, "", tc.env, tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit status %d, stderr %q; want 0 and nothing", code, stderr)
			}
			if got, want := strings.TrimSuffix(stdout, "\n"), strings.TrimSuffix(tc.want, "\n"); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestDrawInvalidGraph pins that an invalid graph is still drawn, then reported
// with exit status 2: the drawing is how one finds the mistake.
func TestDrawInvalidGraph(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := run(t, "invalid", nil, "describe")
	if code != 2 {
		t.Errorf("exit status = %d, want 2", code)
	}
	if want := graphNamed("invalid").Describe(); strings.TrimSuffix(stdout, "\n") != strings.TrimSuffix(want, "\n") {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if n := strings.Count(stderr, "\n"); n != 1 || !strings.Contains(stderr, "invalid topology") {
		t.Errorf("stderr = %q, want one line saying the topology is invalid", stderr)
	}
}
