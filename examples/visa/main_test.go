package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/proctest"
)

// binary is the visa binary TestMain builds for the tests that run processes;
// "" in -short mode.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(proctest.Main(kafkareal.Main(m), &binary))
}

var summaryRE = regexp.MustCompile(`summary: (\d+) applications sent, (\d+) decided, (\d+) dead-lettered, (\d+) missing, (\d+) duplicates`)

// TestAllRunsToSummary runs the default command as 'make run' does, with a route
// added by flag, in both modes, and pins that it exits 0 by itself once every
// application has an outcome, having printed progress and a summary that
// accounts for all of them, level E included, with no duplicate and lag 0
// (exactly-once levels' transaction markers are no lag).
func TestAllRunsToSummary(t *testing.T) {
	for _, tc := range []struct {
		mode string
		args []string
	}{
		{"at-least-once", nil},
		{"exactly-once", []string{"--exactly-once"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			allRunsToSummary(t, tc.mode, tc.args...)
		})
	}
}

func allRunsToSummary(t *testing.T, mode string, more ...string) {
	var out, errOut proctest.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"all", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--count", "300", "--rate", "300", "--seed", "9", "--prefix", "T",
		"--mix", "tourist=40,business=20,student=20,work=20", "--route", "work=B,E,D"}, more...)
	code := program.Run(ctx, args, &out, &errOut)
	if code != cli.ExitOK {
		t.Fatalf("exit status %d, want 0; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	m := summaryRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no summary line; stdout:\n%s", s)
	}
	if m[1] != "300" || m[4] != "0" || m[5] != "0" {
		t.Errorf("summary %q: want 300 sent, 0 missing, 0 duplicates", m[0])
	}
	for _, want := range []string{
		"route work: A -> B -> E -> D -> final-decisions-out",
		"every application has an outcome",
		"| decided ",
		"(malformed)",
		"level E",
		"end to end",
		"dead letters: " + m[3] + " (level-a-dlq " + m[3] + ")",
		"agents running " + mode + ", deciding with the rules;",
		"lag (records not yet committed per level): A 0, B 0, C 0, D 0, E 0\n",
		"desk: SLA per level A 30s, B 30s, C 30s, D 30s, E 30s; needs_review waits for a reviewer, escalated after 10m0s\n",
		"desk: 0 escalated by an SLA, ",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	t.Logf("output:\n%s", s)
}

// deskRE matches the summary's line about the desk.
var deskRE = regexp.MustCompile(`desk: (\d+) escalated by an SLA(?: \(level B (\d+)\))?, (\d+) awaiting review \((\d+) escalated\), (\d+) late answers`)

// TestAllCountsSLA runs 'all' as 'make run' does, with a model that takes
// 400 ms at level B and an SLA of 100 ms there: every application routed to B
// exceeds it and waits for review (B's answers come late), and the run still
// ends by itself, its summary counting every business application escalated
// at level B and awaiting review.
func TestAllCountsSLA(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "You are level B ") {
			time.Sleep(400 * time.Millisecond)
		}
		content, _ := json.Marshal(`{"decision":"pass","reasons":[],"confidence":0.9}`)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}]}`, content)
	}))
	t.Cleanup(srv.Close)
	var out, errOut proctest.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	code := program.Run(ctx, []string{"all", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http", "",
		"--count", "40", "--rate", "200", "--seed", "5", "--prefix", "S", "--invalid", "0", "--malformed", "0",
		"--mix", "tourist=50,business=50", "--sla", "B=100ms",
		"--decider", "llm", "--llm-base-url", srv.URL + "/v1", "--llm-model", "m", "--concurrency", "8"}, &out, &errOut)
	s := out.String()
	if code != cli.ExitOK {
		t.Fatalf("exit status %d, want 0; stdout:\n%s\nstderr:\n%s", code, s, errOut.String())
	}
	m := deskRE.FindStringSubmatch(s)
	sum := summaryRE.FindStringSubmatch(s)
	if m == nil || sum == nil {
		t.Fatalf("no summary or desk line; stdout:\n%s", s)
	}
	if m[1] == "0" || m[1] != m[2] || m[1] != m[3] || sum[4] != "0" || !strings.Contains(s, "  business           0               "+m[1]+" ") {
		t.Errorf("desk line %q (summary %q): want every business application escalated at level B and awaiting review, none missing", m[0], sum[0])
	}
	if !strings.Contains(s, "every application has an outcome") {
		t.Errorf("the run did not account for every application:\n%s", s)
	}
	t.Logf("output:\n%s", s)
}

// TestUsageErrors pins that a mistake on the command line exits 2 with one line
// saying what is wrong, before anything runs.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"all", "--mix", "tourist"}, `--mix: mix "tourist"`},
		{[]string{"all", "--route", "work=B,F"}, `--route: route "work=B,F": hop 2 "F" is no scrutiny queue`},
		{[]string{"demo", "--invalid", "120"}, "--invalid or --malformed"},
		{[]string{"routes", "--set", "work"}, `--set: route "work"`},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"all", "--log-level", "loud"}, "--log-level"},
		{[]string{"all", "--exactly-once", "--concurrency", "4"}, "--exactly-once with 4 decider calls at once per partition"},
		{[]string{"run", "--exactly-once", "--decider", "llm", "--llm-base-url", "http://127.0.0.1:1", "--llm-model", "m"}, "--exactly-once with 16 decider calls"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut proctest.Buffer
			code := program.Run(t.Context(), tc.args, &out, &errOut)
			if code != cli.ExitUsage || !strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("exit status %d, stderr %q; want %d and one line containing %q", code, errOut.String(), cli.ExitUsage, tc.want)
			}
		})
	}
}

// TestFailureExitsOne pins that a command of this program that fails while
// running (here: no broker to send to) exits 1, not 2.
func TestFailureExitsOne(t *testing.T) {
	var out, errOut proctest.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	code := program.Run(ctx, []string{"demo", "--brokers", "127.0.0.1:1", "--count", "1"}, &out, &errOut)
	if code != cli.ExitFailure {
		t.Errorf("exit status %d, want %d; stderr %q", code, cli.ExitFailure, errOut.String())
	}
}

// TestAllWithModel pins that 'all' takes the decider flags of 'run': with
// --decider llm the levels ask the model (here one that rejects everything at
// level B), with the concurrency of --concurrency, and the run still ends with
// every application accounted for and no lag.
func TestAllWithModel(t *testing.T) {
	var out, errOut proctest.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := program.Run(ctx, []string{"all", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--count", "60", "--rate", "300", "--seed", "3", "--prefix", "M", "--invalid", "0", "--malformed", "0",
		"--mix", "business=50,student=50",
		"--decider", "llm", "--llm-base-url", modelSaysNo(t), "--llm-model", "m", "--concurrency", "4"}, &out, &errOut)
	s := out.String()
	if code != cli.ExitOK {
		t.Fatalf("exit status %d, want 0; stdout:\n%s\nstderr:\n%s", code, s, errOut.String())
	}
	m := summaryRE.FindStringSubmatch(s)
	if m == nil || m[1] != "60" || m[2] != "60" || m[4] != "0" {
		t.Fatalf("summary %q, want 60 sent, 60 decided, 0 missing; stdout:\n%s", m, s)
	}
	for _, want := range []string{
		`deciding with model "m" at http://127.0.0.1:`,
		"for every level, 4 calls at once per partition;",
		// The model rejects every application at level B: no approvals.
		"sent 60 | decided 60: rejected 60 | dead letters 0 | in flight 0",
		"lag (records not yet committed per level): A 0, B 0, C 0, D 0, E 0\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
