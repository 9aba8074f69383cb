package soak_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/internal/soak"
)

// TestSoakShort runs the soak as make test's short version: the sluice-soak
// binary, built here, runs the orchestrator with 20k records through two
// agents of two processes each while at least 3 agent instances are killed,
// one instance added or stopped, and the broker killed twice; it fails on
// any loss, reordering or table entry at-least-once does not allow, and in
// exactly-once mode on any duplicate or table difference too.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and four agent processes through faults for about a minute")
	}
	proctest.NonRacePass(t, "the agents and the broker run in sluice-soak processes built without the race detector, so a race pass would repeat this run")
	bin := build(t)
	for _, mode := range []soak.Mode{soak.AtLeastOnce, soak.ExactlyOnce} {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "work")
			args := []string{"run", "--records", "20000", "--keys", "100",
				"--kills", "3", "--broker-bounces", "2", "--rebalances", "2", "--interval", "4s",
				"--duration-cap", "3m", "--dir", dir}
			if mode == soak.ExactlyOnce {
				args = append(args, "--exactly-once")
			}
			line, code, stdout, stderr := runSoak(t, bin, args)
			t.Logf("%s", line)
			if code != 0 {
				t.Errorf("sluice-soak exited %d, want 0", code)
			}
			want := map[string]func(int) bool{
				"lost":             func(n int) bool { return n == 0 },
				"reordered":        func(n int) bool { return n == 0 },
				"table_mismatches": func(n int) bool { return n == 0 },
				"records":          func(n int) bool { return n == 20000 },
				"kills":            func(n int) bool { return n >= 3 },
				"broker_bounces":   func(n int) bool { return n >= 2 },
				"rebalances":       func(n int) bool { return n >= 1 },
			}
			if mode == soak.ExactlyOnce {
				want["duplicates"] = func(n int) bool { return n == 0 }
			}
			for _, k := range slices.Sorted(maps.Keys(want)) {
				v, ok := line[k]
				if !ok {
					t.Errorf("the last line has no %s", k)
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil || !want[k](n) {
					t.Errorf("%s=%s breaks the soak's promise", k, v)
				}
			}
			if line["mode"] != mode.String() {
				t.Errorf("mode=%s, want %s", line["mode"], mode)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr (last 40 lines):\n%s", stdout, lastLines(stderr, 40))
				logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
				for _, l := range logs {
					b, _ := os.ReadFile(l)
					t.Logf("%s (last 25 lines):\n%s", filepath.Base(l), lastLines(string(b), 25))
				}
			}
		})
	}
}

// build builds cmd/sluice-soak into a temporary directory and returns the
// binary's path.
//
// It is built without the race detector, even under go test -race: while the
// agents ran on sarama v1.46.3, the soak's broker bounces and kills made
// sarama race with itself, in its consumer when a connection was
// re-established (IBM/sarama#3017) and in its transaction manager when a
// connection failed mid-transaction. An agent process then exited with the
// detector's status 66 and the soak failed on a race that was sarama's. No
// sarama client runs now (every client is franz-go's); the soak has not been
// tried under the detector since. sluice's own code runs under the detector
// in the in-process tests of topology, internal/gokax and the examples.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice-soak")
	args := []string{"build", "-o", bin}
	// go test puts its own go first in PATH.
	if out, err := exec.Command("go", append(args, "github.com/sluicehq/sluice/cmd/sluice-soak")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runSoak runs bin with args and returns the key=value pairs of the last line
// of its output, its exit status and what it wrote.
func runSoak(t *testing.T, bin string, args []string) (line map[string]string, code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run sluice-soak: %v", err)
	}
	code = cmd.ProcessState.ExitCode()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	line = map[string]string{}
	for _, f := range strings.Fields(lines[len(lines)-1]) {
		if k, v, ok := strings.Cut(f, "="); ok {
			line[k] = v
		}
	}
	return line, code, out.String(), errb.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
