package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// auditApp returns an application of visaType that every level's rules pass.
func auditApp(id, visaType string) visa.Application {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	day := func(d int) visa.Date { return visa.DateOf(now.AddDate(0, 0, d)) }
	a := visa.Application{
		ApplicationID: id, VisaType: visaType, SubmittedAt: now,
		Applicant: visa.Applicant{Name: "Bao Tran", Nationality: "VNM", BirthDate: day(-35 * 365)},
		Passport:  visa.Passport{Number: "C1234567", Expiry: day(4 * 365)},
		StayDays:  14, Funds: 14 * 150 * 2,
	}
	letter := &visa.Letter{Issuer: "Acme BV", Reference: "R-1", IssuedOn: day(-7)}
	switch visaType {
	case "business":
		a.Invitation = letter
	case "student":
		a.Enrolment = letter
	}
	return a
}

// modelSaysNo is an OpenAI-compatible server on 127.0.0.1 whose model passes
// every application, except at level B, where it rejects them.
func modelSaysNo(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		answer := `{"decision":"pass","reasons":[],"confidence":0.9}`
		if strings.Contains(string(b), "You are level B ") {
			answer = `{"decision":"rejected","reasons":["the model distrusts these funds"],"confidence":0.7}`
		}
		content, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}]}`, content)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// TestTraceAndReplayCommands runs the pipeline on the embedded broker and then
// the trace and replay commands against it: trace prints a business
// application's journey through A, B, C and D to its final decision, and replay
// with --decider llm (the model at level B only) prints the applications the
// model decides otherwise than production's rules.
func TestTraceAndReplayCommands(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	addr := addrs[0]
	g, err := visa.Graph(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topology.Provision(t.Context(), g, topology.Brokers(addrs...)); err != nil {
		t.Fatal(err)
	}
	if err := visa.WriteRoutes(t.Context(), visa.DefaultRoutes, topology.Brokers(addrs...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- topology.Run(ctx, g, topology.Brokers(addrs...), topology.DataDir(t.TempDir())) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i, app := range []visa.Application{auditApp("b-1", "business"), auditApp("s-1", "student"), auditApp("t-1", "tourist")} {
		b, _ := json.Marshal(app)
		recs = append(recs, &kgo.Record{Key: []byte(app.ApplicationID), Value: b, Timestamp: at.Add(time.Duration(i) * time.Second)})
	}
	kafkatest.Produce(t, addrs, visa.Applications.Name, recs...)
	kafkatest.WaitFor(t, time.Minute, func() bool {
		for _, id := range []string{"b-1", "s-1", "t-1"} {
			evs, err := visa.Trace(t.Context(), []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 || evs[len(evs)-1].Kind != visa.EventFinal {
				return false
			}
		}
		return true
	})

	run := func(args ...string) (int, string, string) {
		var out, errOut proctest.Buffer
		code := program.Run(t.Context(), args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("trace", "b-1", "--brokers", addr)
	if code != cli.ExitOK {
		t.Fatalf("trace exited %d; stderr %q", code, errOut)
	}
	t.Logf("visa trace b-1:\n%s", out)
	last := -1
	for _, w := range []string{"visa-applications-in", "A -> B", "B -> C", "C -> D", "final-decisions-out", "outcome: approved at level D"} {
		i := strings.Index(out, w)
		if i < last {
			t.Errorf("trace output lacks %q after what came before:\n%s", w, out)
		}
		last = i
	}
	if code, out, errOut := run("trace", "nobody", "--brokers", addr); code != cli.ExitFailure ||
		!strings.Contains(out, `no record of application "nobody"`) || !strings.Contains(errOut, "application not found") {
		t.Errorf("trace of an unknown ID exited %d with %q, %q; want 1 saying so", code, out, errOut)
	}

	code, out, errOut = run("replay", "--brokers", addr, "--from", at.Format(time.RFC3339), "--to", at.Add(time.Minute).Format(time.RFC3339),
		"--shadow", "-llm", "--decider", "llm", "--llm-base-url", modelSaysNo(t), "--llm-model", "m", "--llm-levels", "B", "--wait", "1m")
	if code != cli.ExitOK {
		t.Fatalf("replay exited %d; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("visa replay:\n%s", out)
	for _, w := range []string{
		`deciding with model "m" at http://127.0.0.1:`,
		"3 applications: 1 decided alike, 2 differently",
		"b-1 (business): approved -> rejected",
		"s-1 (student): approved -> rejected",
		"shadow:     rejected at B: B: the model distrusts these funds",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("replay output lacks %q", w)
		}
	}
	if strings.Contains(out, "t-1 (tourist)") {
		t.Errorf("replay lists t-1, which never reaches level B")
	}
	// The shadow journey is there to trace.
	if code, out, _ := run("trace", "s-1", "--brokers", addr, "--shadow", "-llm"); code != cli.ExitOK || !strings.Contains(out, "scrutiny-queue-B-llm") || !strings.Contains(out, "outcome: rejected at level B") {
		t.Errorf("trace --shadow exited %d:\n%s", code, out)
	}
}

// TestDeciderFlags pins the usage errors of the decider, trace and replay
// flags, and that the LLM flags fall back to the environment.
func TestDeciderFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--decider", "magic"}, `--decider "magic": want rules or llm`},
		{[]string{"run", "--decider", "llm"}, "no model: set --llm-model or SLUICE_LLM_MODEL"},
		{[]string{"run", "--decider", "llm", "--llm-model", "m", "--llm-on-failure", "drop"}, `on failure "drop"`},
		{[]string{"run", "--decider", "llm", "--llm-model", "m", "--llm-levels", "B,Z"}, `--llm-levels: unknown level "Z"`},
		{[]string{"trace"}, "takes one application ID"},
		{[]string{"replay", "--shadow", "-x"}, "needs --from and --shadow"},
		{[]string{"replay", "--from", "yesterday", "--shadow", "-x"}, `--from "yesterday"`},
		{[]string{"replay", "--from", "2026-03-02T09:00:00Z", "--to", "2026-03-02T08:00:00Z", "--shadow", "-x"}, "is not before"},
		{[]string{"replay", "--from", "2026-03-02T09:00:00Z", "--shadow", "a/b"}, "--shadow: shadow suffix"},
		{[]string{"replay", "--from", "2026-03-02T09:00:00Z", "--shadow", "-x", "--decider", "llm"}, "no model"},
		{[]string{"run", "--concurrency", "-2"}, "--concurrency -2: want 1 or more"},
		{[]string{"all", "--concurrency", "-1"}, "--concurrency -1: want 1 or more"},
		{[]string{"all", "--decider", "llm"}, "no model: set --llm-model or SLUICE_LLM_MODEL"},
		{[]string{"all", "--decider", "llm", "--llm-model", "m", "--llm-levels", "Z"}, `--llm-levels: unknown level "Z"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut proctest.Buffer
			code := program.Run(t.Context(), tc.args, &out, &errOut)
			if code != cli.ExitUsage || !strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("exit status %d, stderr %q; want %d and one line containing %q", code, errOut.String(), cli.ExitUsage, tc.want)
			}
		})
	}

	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("SLUICE_LLM_MODEL", "from-env")
	t.Setenv("SLUICE_LLM_LEVELS", "C")
	var f deciderFlags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.add(fs)
	if err := fs.Parse([]string{"--decider", "llm", "--llm-levels", "B,D"}); err != nil {
		t.Fatal(err)
	}
	if err := f.applyEnv(fs); err != nil {
		t.Fatal(err)
	}
	d, err := f.decider()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.describe(), `model "from-env" at http://127.0.0.1:1/v1 for levels B, D, 16 calls at once per partition`; got != want {
		t.Errorf("decider %q, want %q: the flag wins over SLUICE_LLM_LEVELS, the environment fills the rest", got, want)
	}
	if got := f.conc(); got != defaultLLMConcurrency {
		t.Errorf("concurrency with --decider llm = %d, want its default %d", got, defaultLLMConcurrency)
	}
	for _, tc := range []struct {
		kind       string
		flag, want int
	}{{"rules", 0, 1}, {"rules", 8, 8}, {"llm", 0, 16}, {"llm", 1, 1}} {
		if got := (&deciderFlags{kind: tc.kind, concurrency: tc.flag}).conc(); got != tc.want {
			t.Errorf("concurrency of --decider %s --concurrency %d = %d, want %d", tc.kind, tc.flag, got, tc.want)
		}
	}
	by, ok := d.(visa.ByLevel)
	if !ok {
		t.Fatalf("decider %T, want visa.ByLevel", d)
	}
	for _, l := range visa.Levels {
		_, llm := by[l.Name].(*visa.LLMDecider)
		if llm != (l.Name == "B" || l.Name == "D") {
			t.Errorf("level %s uses %T", l.Name, by[l.Name])
		}
	}
}

// TestRunConcurrency pins that run's --concurrency (default 1 with the rules,
// 16 with --decider llm) makes the levels of the graph concurrent before run
// starts them: the graph the binary's commands share then has the levels' loop
// topics, which 'topics' creates and lists.
func TestRunConcurrency(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	for _, tc := range []struct {
		args  []string
		loops bool
	}{
		{nil, false},
		{[]string{"--concurrency", "4"}, true},
		{[]string{"--decider", "llm", "--llm-model", "m"}, true},
		{[]string{"--decider", "llm", "--llm-model", "m", "--concurrency", "1"}, false},
	} {
		t.Run(strings.Join(append([]string{"run"}, tc.args...), " "), func(t *testing.T) {
			root, err := command()
			if err != nil {
				t.Fatal(err)
			}
			run, _, err := root.Find([]string{"run"})
			if err != nil {
				t.Fatal(err)
			}
			if err := run.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := run.PreRunE(run, nil); err != nil {
				t.Fatalf("run's PreRunE: %v", err)
			}
			var out, errOut proctest.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			if code := cli.Execute(t.Context(), root, []string{"topics", "--brokers", addrs[0]}); code != cli.ExitOK {
				t.Fatalf("topics: exit status %d; stderr:\n%s", code, errOut.String())
			}
			for _, l := range visa.Levels {
				if got := strings.Contains(out.String(), topology.LoopName(l.Agent())+" "); got != tc.loops {
					t.Errorf("topics lists %s: %v, want %v:\n%s", topology.LoopName(l.Agent()), got, tc.loops, out.String())
				}
			}
		})
	}
}
