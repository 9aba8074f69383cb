package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
)

var (
	totalRE = regexp.MustCompile(`total (\d+):`)
	userRE  = regexp.MustCompile(` (user-\d+)=(\d+)`)
)

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
	before := printed(out)
	first := before[len(before)-1] // the counts the first run printed last
	// The second run's counts go on from the table, not from zero: the first
	// line that shows every user shows each at least where the first run left
	// it. (The last total alone cannot tell: new clicks raise it after a loss
	// too.)
	out = runFor(last(out))
	var resumed map[string]int
	for _, line := range printed(out) {
		if len(line) == cfg.users {
			resumed = line
			break
		}
	}
	if resumed == nil {
		t.Fatalf("the second run printed no line with all %d users:\n%s", cfg.users, out)
	}
	for u, n := range first {
		if resumed[u] < n {
			t.Errorf("%s = %d in the second run's first full line, want at least %d, where the first run left it: counts were lost across the restart\n%s",
				u, resumed[u], n, out)
		}
	}
}

// printed returns the per-user counts of every line that shows a total.
func printed(out string) []map[string]int {
	var lines []map[string]int
	for _, l := range strings.Split(out, "\n") {
		if !totalRE.MatchString(l) {
			continue
		}
		counts := map[string]int{}
		for _, m := range userRE.FindAllStringSubmatch(l, -1) {
			counts[m[1]], _ = strconv.Atoi(m[2])
		}
		lines = append(lines, counts)
	}
	return lines
}
