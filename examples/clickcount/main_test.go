package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
)

var totalRE = regexp.MustCompile(`total (\d+):`)

// TestRunShowsLiveCounts runs the example as `make run` does, on its own embedded
// broker, and checks that it prints growing counts for every user; then runs it
// again on the same data dir and checks the counts go on from where they were.
func TestRunShowsLiveCounts(t *testing.T) {
	dir := t.TempDir()
	cfg := config{dataDir: dir, listen: "127.0.0.1:0", rate: 100, users: 3}
	last := func(out string) int {
		m := totalRE.FindAllStringSubmatch(out, -1)
		if len(m) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n
	}
	runFor := func(wantOver int) string {
		t.Helper()
		var out proctest.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- run(ctx, cfg, &out) }()
		deadline := time.Now().Add(90 * time.Second)
		for last(out.String()) <= wantOver && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond) // polling the printed output, not waiting for a result
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
		if got := last(out.String()); got <= wantOver {
			t.Fatalf("last printed total = %d, want > %d; output:\n%s", got, wantOver, out.String())
		}
		return out.String()
	}
	out := runFor(50)
	for _, u := range []string{"user-0=", "user-1=", "user-2="} {
		if !bytes.Contains([]byte(out), []byte(u)) {
			t.Errorf("output has no count for %s:\n%s", u, out)
		}
	}
	first := last(out)
	// The second run's counts start from the table, not from zero.
	out = runFor(first)
	if got := last(out); got <= first {
		t.Fatalf("second run total = %d, want > %d (counts must survive a restart)", got, first)
	}
}
