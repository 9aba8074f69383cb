package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/processors/inference"
)

// binary is the fraud binary TestMain builds for the tests that run a
// process; "" in -short mode.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(proctest.Main(m, &binary))
}

var (
	summaryRE = regexp.MustCompile(`summary: (\d+) requests sent, (\d+) scored, (\d+) missing, (\d+) duplicates, (\d+) flagged`)
	latencyRE = regexp.MustCompile(`latency, request sent -> prediction read: p50 [0-9.]+ ms, p99 [0-9.]+ ms`)
	bucketRE  = regexp.MustCompile(`(?m)^  \[\d\.\d, \d\.\d[)\]] +(\d+)`)
	lookupRE  = regexp.MustCompile(`latency, lookup service GET /features/\{user\} as each request was sent: p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms \((\d+) lookups: (\d+) found, (\d+) before the user had features, (\d+) failed, (\d+) skipped\)`)
)

// TestAllRunsToSummary runs the default command, flags only, on a broker of
// the test's, and pins that it exits 0 by itself once every request is scored,
// having printed a summary that accounts for all of them; then it reads the
// predictions topic and checks that every request got exactly one prediction.
func TestAllRunsToSummary(t *testing.T) {
	const count = 150
	b := kafkatest.Start(t)
	var out, errOut proctest.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	code := program.Run(ctx, []string{"--brokers", strings.Join(b.Addrs(), ","), "--data-dir", t.TempDir(),
		"--count", strconv.Itoa(count), "--rate", "150", "--users", "40", "--fraud", "20", "--seed", "3", "--prefix", "T"}, &out, &errOut)
	if code != cli.ExitOK {
		t.Fatalf("exit status %d, want 0; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	m := summaryRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no summary line; stdout:\n%s", s)
	}
	if want := strconv.Itoa(count); m[1] != want || m[2] != want || m[3] != "0" || m[4] != "0" {
		t.Errorf("summary %q: want %d sent and scored, 0 missing, 0 duplicates", m[0], count)
	}
	inBuckets := 0
	for _, b := range bucketRE.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(b[1])
		inBuckets += n
	}
	if inBuckets != count {
		t.Errorf("score histogram holds %d requests, want %d:\n%s", inBuckets, count, s)
	}
	for _, want := range []string{"every request is scored", "all 7 agents running", "fraud-ish", "score distribution"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if !latencyRE.MatchString(s) {
		t.Errorf("output lacks the latency line:\n%s", s)
	}
	// The lookup service answered a lookup of every request's user.
	if m := lookupRE.FindStringSubmatch(s); m == nil {
		t.Errorf("output lacks the lookup latency line:\n%s", s)
	} else if n, _ := strconv.Atoi(m[1]); n != count || m[4] != "0" || m[5] != "0" {
		t.Errorf("lookups %q: want %d answered, none failed or skipped", m[0], count)
	}

	// Exactly one prediction per request, read from the topic itself.
	seen := map[string]int{}
	for _, r := range kafkatest.ConsumeAll(t, b.Addrs(), Predictions.Name) {
		var p inference.Prediction
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatalf("prediction %q: %v", r.Value, err)
		}
		if string(r.Key) != p.Entity {
			t.Errorf("prediction of %s under key %q, want its entity %q", p.RequestID, r.Key, p.Entity)
		}
		seen[p.RequestID]++
	}
	if len(seen) != count {
		t.Errorf("predictions for %d requests, want %d", len(seen), count)
	}
	for i := 1; i <= count; i++ {
		if id := fmt.Sprintf("T-%06d", i); seen[id] != 1 {
			t.Errorf("request %s has %d predictions, want 1", id, seen[id])
		}
	}
	t.Logf("output:\n%s", s)
}

// TestUsageErrors pins that a mistake on the command line exits 2 with one
// line saying what is wrong, before anything runs.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--count", "x"}, `invalid argument "x" for "--count"`},
		{[]string{"--count", "0"}, "--count 0: want at least 1"},
		{[]string{"--rate", "-5"}, "--rate -5: want at least 1"},
		{[]string{"--users", "0"}, "--users 0: want at least 1"},
		{[]string{"--fraud", "120"}, "--fraud 120: want a percentage"},
		{[]string{"--frod", "5"}, "unknown flag: --frod"},
		{[]string{"--listen", "nowhere", "--count", "1"}, "--listen"},
		{[]string{"--model", "no-such-model.json"}, "--model: model no-such-model.json"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--lookup", "nowhere"}, `invalid argument "nowhere" for "--lookup"`},
		{[]string{"all", "extra"}, `unknown command "extra"`},
		{[]string{"run", "--agents", "nobody"}, `unknown agent "nobody"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut proctest.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			code := program.Run(ctx, tc.args, &out, &errOut)
			if code != cli.ExitUsage || !strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("exit status %d, stderr %q; want %d and one line containing %q", code, errOut.String(), cli.ExitUsage, tc.want)
			}
		})
	}
}

// TestInterruptStopsCleanly runs the binary, interrupts it while it sends,
// and pins that it stops by itself with exit status 0 and the summary so far.
// In -short mode, which builds no binary, it cancels the command in-process
// instead, as the signal does.
func TestInterruptStopsCleanly(t *testing.T) {
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--count", "100000", "--rate", "100", "--seed", "5"}
	if binary == "" {
		var out, errOut proctest.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		go func() { // Ctrl-C once it prints progress
			defer cancel()
			for !strings.Contains(out.String(), "| scored") {
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		if code := program.Run(ctx, args, &out, &errOut); code != cli.ExitOK {
			t.Fatalf("exit status %d after the stop, want 0; stderr:\n%s", code, errOut.String())
		}
		if s := out.String(); !strings.Contains(s, "| scored") || !strings.Contains(s, "interrupted; summary so far:") || !summaryRE.MatchString(s) {
			t.Errorf("output lacks the summary so far:\n%s", s)
		}
		return
	}
	var out, errOut proctest.Buffer
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 2*time.Minute, func() bool { return strings.Contains(out.String(), "| scored") })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGINT: %v; stdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running a minute after SIGINT; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "interrupted; summary so far:") || !summaryRE.MatchString(s) {
		t.Errorf("output lacks the summary so far:\n%s", s)
	}
}
