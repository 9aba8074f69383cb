package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/proctest"
)

// The test in this file runs the built binary as separate processes, as a
// deployment would: a broker, and levels in processes of their own that find each
// other only through Kafka.

// TestLevelsAsProcesses runs level A, two instances of level B, and levels C to E
// in processes of their own against a broker process, exactly-once, sends
// generated applications with the demo command, and pins that the two B
// instances share B's partitions and its work, that every application gets
// exactly one final decision along its route (read committed), and that every
// process exits 0 on SIGTERM.
func TestLevelsAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight processes")
	}
	dir := t.TempDir()
	broker := start(t, "broker", "broker", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "broker"))
	addr := broker.waitLine(regexp.MustCompile(` addr=(\S+)`), 30*time.Second)[1]
	if code := start(t, "routes", "routes", "--brokers", addr).Wait(60 * time.Second); code != 0 {
		t.Fatalf("routes exited %d, want 0", code)
	}
	level := func(name string, agents ...string) *proc {
		return start(t, name, "run", "--agents", strings.Join(agents, ","), "--brokers", addr, "--data-dir", filepath.Join(dir, name), "--exactly-once")
	}
	a := level("a", "level-a")
	b1 := level("b1", "level-b")
	b2 := level("b2", "level-b")
	cde := level("cde", "level-c", "level-d", "level-e")
	all := func(parts []int32) bool { return len(parts) == 4 }
	a.waitAssigned("level-a", 60*time.Second, all)
	for _, agent := range []string{"level-c", "level-d", "level-e"} {
		cde.waitAssigned(agent, 60*time.Second, all)
	}
	if !poll(60*time.Second, func() bool {
		p1, p2 := b1.assigned("level-b"), b2.assigned("level-b")
		u := slices.Concat(p1, p2)
		slices.Sort(u)
		return len(p1) > 0 && len(p2) > 0 && slices.Equal(u, []int32{0, 1, 2, 3})
	}) {
		t.Fatalf("the two B instances did not split B's partitions: %v and %v", b1.assigned("level-b"), b2.assigned("level-b"))
	}
	t.Logf("level B split: b1 has %v, b2 has %v", b1.assigned("level-b"), b2.assigned("level-b"))
	for _, p := range []*proc{a, b1, b2, cde} {
		p.waitLine(regexp.MustCompile(`msg=starting .* exactly_once=true`), time.Second)
	}

	const n = 2000
	args := []string{"--count", strconv.Itoa(n), "--rate", "0", "--seed", "11", "--prefix", "X",
		"--mix", "tourist=30,business=30,student=20,work=20", "--invalid", "10", "--malformed", "1"}
	if code := start(t, "demo", append([]string{"demo", "--brokers", addr}, args...)...).Wait(60 * time.Second); code != 0 {
		t.Fatalf("demo exited %d, want 0", code)
	}
	// The same generator settings give the same applications, IDs and all.
	mix, _ := visa.ParseMix("tourist=30,business=30,student=20,work=20")
	gen, err := visa.NewGenerator(visa.GeneratorConfig{Mix: mix, Invalid: 10, Malformed: 1, Seed: 11, Prefix: "X"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]visa.Item{}
	for range n {
		if it := gen.Next(); it.Raw == nil {
			want[it.ID] = it
		}
	}
	begin := time.Now()
	got := consumeFinals(t, addr, want, 120*time.Second)
	t.Logf("%d applications decided in %v after the demo returned", len(want), time.Since(begin).Round(time.Millisecond))

	// routes wrote the default routes only: work applications end at A as
	// needs_review, as those of any type without a route do.
	for id, it := range want {
		d := got[id]
		wantDecision, wantLevels := oracle(it.App)
		if d.Decision != wantDecision || !slices.Equal(levelsOf(d.Path), wantLevels) {
			t.Errorf("%s (%s, defect %q): %s via %v, want %s via %v", id, it.App.VisaType, it.Defect, d.Decision, levelsOf(d.Path), wantDecision, wantLevels)
		}
	}

	agents := []*proc{a, b1, b2, cde}
	for _, p := range agents {
		p.Signal(syscall.SIGTERM) // all at once: they stop in parallel
	}
	for _, p := range agents {
		if code := p.Wait(30 * time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0", p.Name(), code)
		}
	}
	processedRE := regexp.MustCompile(`msg="agent stopped" agent=level-b processed=(\d+)`)
	viaB := 0
	for _, it := range want {
		if _, levels := oracle(it.App); slices.Contains(levels, "B") {
			viaB++
		}
	}
	total := 0
	for _, b := range []*proc{b1, b2} {
		m := b.waitLine(processedRE, time.Second)
		k, _ := strconv.Atoi(m[1])
		if k == 0 {
			t.Errorf("%s processed no record of level B", b.Name())
		}
		total += k
	}
	if total != viaB {
		t.Errorf("the B instances processed %d records, want %d (the applications whose path goes through B)", total, viaB)
	}
	t.Logf("level B: %d records between the two instances", total)
	broker.Signal(syscall.SIGTERM)
	if code := broker.Wait(30 * time.Second); code != 0 {
		t.Errorf("broker exited %d after SIGTERM, want 0", code)
	}
}

// oracle returns the decision and path levels the rules give app on its default
// route; a type without one (work) ends at A as needs_review unless A rejects.
func oracle(app visa.Application) (string, []string) {
	levels := oracleLevels(app)
	for i, l := range levels {
		f, _ := visa.Rules{}.Decide(context.Background(), l, app)
		if f.Decision != visa.Pass {
			return f.Decision, levels[:i+1]
		}
	}
	if !slices.ContainsFunc(visa.DefaultRoutes, func(r visa.Route) bool { return r.VisaType == app.VisaType }) {
		return visa.NeedsReview, levels
	}
	return visa.Approved, levels
}

// oracleLevels returns the levels of app's default route, A first.
func oracleLevels(app visa.Application) []string {
	levels := []string{"A"}
	for _, r := range visa.DefaultRoutes {
		if r.VisaType == app.VisaType {
			for _, h := range r.Hops {
				levels = append(levels, strings.TrimPrefix(h, "scrutiny-queue-"))
			}
		}
	}
	return levels
}

func levelsOf(path []visa.Step) []string {
	var out []string
	for _, s := range path {
		out = append(out, s.Level)
	}
	return out
}

// consumeFinals reads final-decisions-out from the start until every application
// of want has a decision, then on to the end of each partition, and fails the
// test if one is missing after timeout or has more than one decision.
func consumeFinals(t *testing.T, addr string, want map[string]visa.Item, timeout time.Duration) map[string]visa.FinalDecision {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(visa.Final.Name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	got := map[string]visa.FinalDecision{}
	dups := 0
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d applications decided within %v", len(got), len(want), timeout)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var d visa.FinalDecision
			if err := json.Unmarshal(r.Value, &d); err != nil {
				t.Errorf("final decision %s: %v", r.Key, err)
				return
			}
			if _, ok := want[d.ApplicationID]; !ok {
				t.Errorf("final decision for %s, which was not sent", d.ApplicationID)
			}
			if _, ok := got[d.ApplicationID]; ok {
				dups++
			}
			got[d.ApplicationID] = d
		})
	}
	if dups > 0 {
		t.Errorf("%d duplicate final decisions", dups)
	}
	return got
}

// proc is a running process of the binary.
type proc struct {
	*proctest.Proc
	t   *testing.T
	log lineLog // stderr and stdout
}

// start starts the binary with args (see proctest.Start).
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, nil, args...)
}

// startEnv is start with env added to the process's environment.
func startEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t}
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stderr, cmd.Stdout = &p.log, &p.log
	p.Proc = proctest.Start(t, name, cmd, &p.log)
	return p
}

// waitLine waits up to timeout for a line matching re and returns its submatches.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	var m []string
	if !poll(timeout, func() bool {
		for _, l := range p.log.lines() {
			if m = re.FindStringSubmatch(l); m != nil {
				return true
			}
		}
		return false
	}) {
		p.t.Fatalf("%s logged no line matching %q within %v:\n%s", p.Name(), re, timeout, p.log.String())
	}
	return m
}

// assignedRE matches an agent's partitions after a rebalance; slog quotes the
// list when it has more than one element.
var assignedRE = regexp.MustCompile(`msg="agent running" agent=(\S+) partitions="?\[([0-9 ]*)\]"?`)

// assigned returns agent's partitions after the last rebalance the process
// logged, nil if none.
func (p *proc) assigned(agent string) []int32 {
	ls := p.log.lines()
	for i := len(ls) - 1; i >= 0; i-- {
		if m := assignedRE.FindStringSubmatch(ls[i]); m != nil && m[1] == agent {
			var out []int32
			for _, f := range strings.Fields(m[2]) {
				n, _ := strconv.Atoi(f)
				out = append(out, int32(n))
			}
			return out
		}
	}
	return nil
}

// waitAssigned waits up to timeout for the last assignment of agent to satisfy ok.
func (p *proc) waitAssigned(agent string, timeout time.Duration, ok func([]int32) bool) {
	p.t.Helper()
	if !poll(timeout, func() bool { return ok(p.assigned(agent)) }) {
		p.t.Fatalf("%s: %s not assigned as expected within %v (last %v):\n%s", p.Name(), agent, timeout, p.assigned(agent), p.log.String())
	}
}

// poll calls cond every 20 ms until it returns true or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling a process's output, not waiting for a result
	}
	return true
}

// lineLog collects what a process writes, line by line.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	ls      []string
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.ls = append(l.ls, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
}

func (l *lineLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ls)
}

func (l *lineLog) String() string {
	return strings.Join(l.lines(), "\n")
}
