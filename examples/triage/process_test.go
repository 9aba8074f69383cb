package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// The tests in this file run the built triage binary as separate processes, as a
// deployment would: a broker process, and agents in processes of their own that
// find each other only through Kafka.

// binary is the triage binary TestMain builds; "" in -short mode.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(proctest.Main(m, &binary))
}

// priorities cycles through the priorities of the tickets the tests produce:
// both queues, and three that triage must resolve itself.
var priorities = []string{"high", "low", "high", "low", "medium", "", "low", "urgent!!"}

// ticket returns the i-th ticket with the ID prefix.
func ticket(prefix string, i int) Ticket {
	return Ticket{
		ID:       fmt.Sprintf("%s-%05d", prefix, i),
		Priority: priorities[i%len(priorities)],
		Text:     fmt.Sprintf("ticket %d", i),
	}
}

// wantPath returns the Path and Reason a resolved ticket of priority must have.
func wantPath(priority string) (path []string, reason string) {
	switch priority {
	case "high":
		return []string{"triage", "urgent"}, ""
	case "low":
		return []string{"triage", "normal"}, ""
	}
	return []string{"triage"}, ReasonUnknownPriority
}

// TestRoutedPipelineAsProcesses runs each agent in its own process against a
// broker process and checks that every ticket produced reaches resolved with the
// path its priority calls for, then that every process exits 0 on SIGTERM.
func TestRoutedPipelineAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	dir := t.TempDir()
	broker := start(t, "broker", "broker", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "broker"))
	addr := broker.waitLine(brokerAddr, 0, 30*time.Second).match[1]

	var agents []*proc
	for _, name := range []string{"triage", "urgent", "normal"} {
		agents = append(agents, start(t, name, "run", "--agents", name, "--brokers", addr, "--data-dir", filepath.Join(dir, name)))
	}
	for _, p := range agents {
		p.waitAssigned(p.Name(), 0, 45*time.Second, func(parts []int32) bool { return slices.Equal(parts, allPartitions()) })
	}

	const n = 2000
	cl := client(t, addr)
	recs := make([]*kgo.Record, n)
	want := map[string]Ticket{}
	for i := range recs {
		tk := ticket("p", i)
		recs[i] = record(tk)
		want[tk.ID] = tk
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	got := consumeResolved(t, addr, want, 60*time.Second)
	t.Logf("%d tickets resolved in %d records, %d duplicates", n, got.records, got.duplicates)

	for _, p := range agents {
		p.Signal(syscall.SIGTERM) // all at once: they stop in parallel
	}
	for _, p := range agents {
		p.waitStopped(30 * time.Second)
	}
	broker.Signal(syscall.SIGTERM)
	broker.waitStopped(30 * time.Second)
}

// TestTwoInstancesShareAndTakeOver runs two instances of triage while tickets
// flow in: they split triage's partitions; when one stops (SIGTERM) and later
// when the other is killed (SIGKILL) while processing, the survivor takes every
// partition over, and no ticket produced is lost, though some may be resolved
// twice. It logs how long each takeover took.
func TestTwoInstancesShareAndTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	dir := t.TempDir()
	broker := start(t, "broker", "broker", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "broker"))
	addr := broker.waitLine(brokerAddr, 0, 30*time.Second).match[1]
	runTriage := func(name, dataDir string) *proc {
		return start(t, name, "run", "--agents", "triage", "--brokers", addr, "--data-dir", filepath.Join(dir, dataDir))
	}
	all := func(parts []int32) bool { return slices.Equal(parts, allPartitions()) }

	queues := start(t, "queues", "run", "--agents", "urgent,normal", "--brokers", addr, "--data-dir", filepath.Join(dir, "queues"))
	a := runTriage("a", "a")
	a.waitAssigned("triage", 0, 45*time.Second, all) // the topics exist now
	queues.waitAssigned("urgent", 0, 45*time.Second, all)
	queues.waitAssigned("normal", 0, 45*time.Second, all)

	prod := produce(t, addr, 200)
	b := runTriage("b", "b")
	split := waitSplit(t, a, b, 0, 0, 60*time.Second)
	t.Logf("split: a has %v, b has %v", split[0], split[1])

	// Graceful: once a is busy with its partitions, SIGTERM makes it leave the
	// group; b gets everything.
	waitProcessed(t, addr, split[0], prod.sent(), 30*time.Second)
	from := b.lines()
	begin := time.Now()
	a.Signal(syscall.SIGTERM)
	sent := prod.sent()
	l := b.waitAssigned("triage", from, 45*time.Second, all)
	graceful := l.at.Sub(begin)
	resumed := waitProcessed(t, addr, split[0], sent, 30*time.Second).Sub(begin)
	t.Logf("graceful takeover: SIGTERM a -> b assigned all %d partitions in %v, b resolving a's tickets again after ~%v",
		topology.DefaultPartitions, graceful.Round(time.Millisecond), resumed.Round(100*time.Millisecond))
	a.waitStopped(30 * time.Second)

	// a comes back as a2 on its data dir and gets its share again.
	from = b.lines()
	a = runTriage("a2", "a")
	split = waitSplit(t, a, b, 0, from, 60*time.Second)
	t.Logf("split again: a2 has %v, b has %v", split[0], split[1])

	// Crash: b, busy with its partitions, is killed and never says goodbye; the
	// group waits for its session to time out.
	waitProcessed(t, addr, split[1], prod.sent(), 30*time.Second)
	from = a.lines()
	begin = time.Now()
	b.Signal(syscall.SIGKILL)
	sent = prod.sent()
	l = a.waitAssigned("triage", from, 60*time.Second, all)
	crash := l.at.Sub(begin)
	resumed = waitProcessed(t, addr, split[1], sent, 30*time.Second).Sub(begin)
	t.Logf("crash takeover: SIGKILL b -> a2 assigned all %d partitions in %v, a2 resolving b's tickets again after ~%v",
		topology.DefaultPartitions, crash.Round(time.Millisecond), resumed.Round(100*time.Millisecond))
	if code := b.Wait(10 * time.Second); code != -1 {
		t.Errorf("b exited with status %d after SIGKILL, want death by signal", code)
	}

	produced := prod.stop()
	want := map[string]Ticket{}
	for _, tk := range produced {
		want[tk.ID] = tk
	}
	got := consumeResolved(t, addr, want, 60*time.Second)
	// Duplicates are records b handled but had not committed when it died: its
	// consumer commits offsets once a second, and it was killed soon after it
	// caught up on the backlog of the rebalance that gave a its share back.
	t.Logf("%d tickets produced, all resolved, in %d records: %d duplicates (at-least-once)", len(want), got.records, got.duplicates)

	a.Signal(syscall.SIGTERM)
	queues.Signal(syscall.SIGTERM)
	a.waitStopped(30 * time.Second)
	queues.waitStopped(30 * time.Second)
	broker.Signal(syscall.SIGTERM)
	broker.waitStopped(30 * time.Second)
}

// allPartitions returns the partitions of every topic of the graph.
func allPartitions() []int32 {
	var ps []int32
	for p := range int32(topology.DefaultPartitions) {
		ps = append(ps, p)
	}
	return ps
}

// waitProcessed waits up to timeout for resolved to hold a ticket that the
// producer sent as its ticket number from or later, in one of parts (of
// tickets and resolved alike: the key decides), and returns the time it read
// it. Such a ticket was triaged by whichever instance has those partitions now.
func waitProcessed(t *testing.T, addr string, parts []int32, from int, timeout time.Duration) time.Time {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(Resolved.Name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		found := false
		fs.EachRecord(func(rec *kgo.Record) {
			n, err := strconv.Atoi(strings.TrimPrefix(string(rec.Key), "s-"))
			found = found || (err == nil && n >= from && slices.Contains(parts, rec.Partition))
		})
		if found {
			return now
		}
	}
	t.Fatalf("within %v, no ticket from number %d on reached %s in partitions %v", timeout, from, Resolved.Name, parts)
	return time.Time{}
}

// waitSplit waits until the latest assignments of triage that a and b logged
// (from their lines fromA and fromB on) are non-empty, disjoint and cover every
// partition, and returns them.
func waitSplit(t *testing.T, a, b *proc, fromA, fromB int, timeout time.Duration) [2][]int32 {
	t.Helper()
	var pa, pb []int32
	ok := poll(timeout, func() bool {
		pa, pb = a.assigned("triage", fromA), b.assigned("triage", fromB)
		if len(pa) == 0 || len(pb) == 0 {
			return false
		}
		union := slices.Concat(pa, pb)
		slices.Sort(union)
		return slices.Equal(union, allPartitions())
	}, a, b)
	if !ok {
		t.Fatalf("within %v, %s and %s did not split triage's partitions: last assigned %v and %v\n%s stderr:\n%s\n%s stderr:\n%s",
			timeout, a.Name(), b.Name(), pa, pb, a.Name(), a.log.String(), b.Name(), b.log.String())
	}
	return [2][]int32{pa, pb}
}

// resolved is what consumeResolved read.
type resolved struct {
	records    int // records read
	duplicates int // records beyond the first of each ticket
}

// consumeResolved reads resolved from the start until every ticket of want has
// arrived, and then on to the end of each partition so as to count duplicates.
// It fails the test if a ticket does not arrive within timeout or arrives with
// the wrong path.
func consumeResolved(t *testing.T, addr string, want map[string]Ticket, timeout time.Duration) resolved {
	t.Helper()
	cl := client(t, addr,
		kgo.ConsumeTopics(Resolved.Name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	seen := map[string]int{}
	next := map[int32]int64{} // offset after the last record read, by partition
	var (
		r     resolved
		wrong []string           // what is wrong with records read
		ends  kadm.ListedOffsets // once every ticket is in
	)
	for ctx.Err() == nil {
		if len(seen) == len(want) && ends == nil {
			var err error
			if ends, err = kadm.NewClient(cl).ListEndOffsets(ctx, Resolved.Name); err == nil {
				err = ends.Error()
			}
			if err != nil {
				t.Fatalf("end offsets of %s: %v", Resolved.Name, err)
			}
		}
		if ends != nil && !slices.ContainsFunc(ends.Offsets().Sorted(), func(o kadm.Offset) bool { return next[o.Partition] < o.At }) {
			break
		}
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			r.records++
			next[rec.Partition] = rec.Offset + 1
			var tk Ticket
			if err := json.Unmarshal(rec.Value, &tk); err != nil {
				wrong = append(wrong, fmt.Sprintf("key %q value %q: %v", rec.Key, rec.Value, err))
				return
			}
			sent, ok := want[tk.ID]
			if !ok || string(rec.Key) != tk.ID {
				wrong = append(wrong, fmt.Sprintf("key %q value %s: not a ticket produced", rec.Key, rec.Value))
				return
			}
			seen[tk.ID]++
			if seen[tk.ID] > 1 {
				r.duplicates++
			}
			path, reason := wantPath(sent.Priority)
			if !slices.Equal(tk.Path, path) || tk.Reason != reason || tk.Priority != sent.Priority || tk.Text != sent.Text {
				wrong = append(wrong, fmt.Sprintf("%s, want priority %q path %q reason %q", rec.Value, sent.Priority, path, reason))
			}
		})
	}
	if len(wrong) > 0 {
		t.Errorf("%d records of %s are wrong, the first:\n%s", len(wrong), Resolved.Name, strings.Join(wrong[:min(5, len(wrong))], "\n"))
	}
	if len(seen) < len(want) {
		var missing []string
		for id := range want {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		t.Fatalf("within %v, %d of %d tickets never reached %s, the first: %q", timeout, len(missing), len(want), Resolved.Name, missing[:min(10, len(missing))])
	}
	if ctx.Err() != nil {
		t.Fatalf("every ticket arrived, but %s was not read to its end offsets %v within %v", Resolved.Name, ends.Offsets(), timeout)
	}
	return r
}

// client returns a Kafka client of addr, closed when the test ends.
func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// record returns tk as a record of tickets keyed by its ID. kgo's default
// partitioner hashes keys with murmur2, as sluice does.
func record(tk Ticket) *kgo.Record {
	b, err := Tickets.Codec.Encode(tk)
	if err != nil {
		panic(err) // a Ticket is plain data: JSON encoding cannot fail
	}
	return &kgo.Record{Topic: Tickets.Name, Key: []byte(tk.ID), Value: b}
}

// producer writes tickets at a steady rate in the background.
type producer struct {
	t      *testing.T
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	n      atomic.Int64 // tickets sent
	mu     struct {
		sync.Mutex
		acked  []Ticket
		failed int
	}
}

// sent returns the number of tickets sent so far; the next one has this number.
func (p *producer) sent() int { return int(p.n.Load()) }

// produce starts writing perSecond tickets a second to addr until stop.
func produce(t *testing.T, addr string, perSecond int) *producer {
	ctx, cancel := context.WithCancel(t.Context())
	p := &producer{t: t, cl: client(t, addr), cancel: cancel, done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-p.done }) // before the client closes
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			tk := ticket("s", i)
			p.n.Store(int64(i + 1))
			p.cl.Produce(context.Background(), record(tk), func(_ *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.mu.failed++
					return
				}
				p.mu.acked = append(p.mu.acked, tk)
			})
		}
	}()
	return p
}

// stop stops producing, waits for the records in flight, and returns the tickets
// the broker acknowledged. Any failed write fails the test.
func (p *producer) stop() []Ticket {
	p.t.Helper()
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		p.t.Errorf("flush: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.failed > 0 {
		p.t.Errorf("%d tickets could not be produced", p.mu.failed)
	}
	return slices.Clone(p.mu.acked)
}

// Log lines of the binary (package cli).
var (
	// brokerAddr matches the broker's address.
	brokerAddr = regexp.MustCompile(` addr=(\S+)`)
	// assignedRE matches an agent's partitions after a rebalance; slog quotes
	// the list when it has more than one element.
	assignedRE = regexp.MustCompile(`msg="agent running" agent=(\S+) partitions="?\[([0-9 ]*)\]"?`)
)

type proc struct {
	*proctest.Proc
	t   *testing.T
	log lineLog // stderr
}

// start starts the triage binary with args (see proctest.Start), logging at
// info so that the tests can follow assignments.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t}
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"SLUICE_LOG_LEVEL=info"}
	cmd.Stderr = &p.log
	p.Proc = proctest.Start(t, name, cmd, &p.log)
	return p
}

// waitStopped waits up to timeout for the process to exit after SIGTERM, and
// fails the test unless it exits with status 0.
func (p *proc) waitStopped(timeout time.Duration) {
	p.t.Helper()
	begin := time.Now()
	if code := p.Wait(timeout); code != 0 {
		p.t.Errorf("%s exited with status %d after SIGTERM, want 0; stderr:\n%s", p.Name(), code, p.log.String())
		return
	}
	p.t.Logf("%s exited 0 after SIGTERM (waited %v)", p.Name(), time.Since(begin).Round(time.Millisecond))
}

// lines returns the number of lines the process has logged so far.
func (p *proc) lines() int { return p.log.count() }

// waitLine waits up to timeout for a line at index from or later to match re
// and returns the first such line. It fails the test if the process exits first.
func (p *proc) waitLine(re *regexp.Regexp, from int, timeout time.Duration) line {
	p.t.Helper()
	var found line
	ok := poll(timeout, func() bool {
		for _, l := range p.log.since(from) {
			if m := re.FindStringSubmatch(l.text); m != nil {
				found, found.match = l, m
				return true
			}
		}
		return false
	}, p)
	if !ok {
		p.t.Fatalf("%s (%s) logged no line matching %q within %v; stderr:\n%s", p.Name(), p.State(), re, timeout, p.log.String())
	}
	return found
}

// waitAssigned waits up to timeout for the process to log, at line from or
// later, an assignment of agent's partitions that ok accepts, and returns that
// line.
func (p *proc) waitAssigned(agent string, from int, timeout time.Duration, ok func([]int32) bool) line {
	p.t.Helper()
	var found line
	if !poll(timeout, func() bool {
		for _, l := range p.log.since(from) {
			if m := assignedRE.FindStringSubmatch(l.text); m != nil && m[1] == agent && ok(partitions(l.text)) {
				found = l
				return true
			}
		}
		return false
	}, p) {
		p.t.Fatalf("%s (%s) did not log the assignment of %s it should within %v; stderr:\n%s", p.Name(), p.State(), agent, timeout, p.log.String())
	}
	return found
}

// assigned returns agent's partitions on the process after the last rebalance it
// logged at line from or later, nil if none.
func (p *proc) assigned(agent string, from int) []int32 {
	ls := p.log.since(from)
	for i := len(ls) - 1; i >= 0; i-- {
		if m := assignedRE.FindStringSubmatch(ls[i].text); m != nil && m[1] == agent {
			return partitions(ls[i].text)
		}
	}
	return nil
}

// partitions parses the partitions of an "agent running" line.
func partitions(text string) []int32 {
	m := assignedRE.FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	var out []int32
	for _, f := range strings.Fields(m[2]) {
		n, err := strconv.ParseInt(f, 10, 32)
		if err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

// poll calls cond every 10 ms until it returns true (poll returns true) or
// timeout passes (false). It gives up early if every one of procs has exited.
// Lines carry the time they arrived, so the polling interval does not blur a
// measurement.
func poll(timeout time.Duration, cond func() bool, procs ...*proc) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if !slices.ContainsFunc(procs, func(p *proc) bool { return !p.Exited() }) {
			return cond()
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// line is one line a process logged, with the time it arrived.
type line struct {
	at    time.Time
	text  string
	match []string // of waitLine's regexp
}

// lineLog collects what a process writes line by line, each stamped with the
// time it arrived.
type lineLog struct {
	mu struct {
		sync.Mutex
		partial []byte
		lines   []line
	}
}

func (l *lineLog) Write(b []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.partial = append(l.mu.partial, b...)
	for {
		i := bytes.IndexByte(l.mu.partial, '\n')
		if i < 0 {
			break
		}
		l.mu.lines = append(l.mu.lines, line{at: now, text: string(l.mu.partial[:i])})
		l.mu.partial = l.mu.partial[i+1:]
	}
	return len(b), nil
}

// since returns the lines from index i on.
func (l *lineLog) since(i int) []line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.lines[min(i, len(l.mu.lines)):])
}

// count returns the number of lines so far.
func (l *lineLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.lines)
}

// String returns everything logged so far.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, ln := range l.mu.lines {
		b.WriteString(ln.text)
		b.WriteByte('\n')
	}
	b.Write(l.mu.partial)
	return b.String()
}
