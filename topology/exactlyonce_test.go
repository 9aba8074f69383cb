package topology_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/tables"
	"github.com/sluicehq/sluice/topology"
)

var (
	eoIn     = topology.Stream[string]{Name: "eo-in", Codec: topology.String()}
	eoCounts = topology.Stream[int64]{Name: "eo-counts", Codec: topology.Int64()}
)

// eoGraph is the agent of the exactly-once tests: eo-counter counts records per
// key in its table and emits each new count. handled, if set, is called after
// each successful call with the number of calls so far (retried calls
// included).
func eoGraph(handled func(c context.Context, n int64)) *topology.Graph {
	return eoGraphNamed(func(s string) string { return s }, handled)
}

// eoGraphNamed is eoGraph with its names (eo-in, eo-counts, eo-counter)
// passed through name.
func eoGraphNamed(name func(string) string, handled func(c context.Context, n int64)) *topology.Graph {
	eoIn, eoCounts := eoIn, eoCounts
	eoIn.Name, eoCounts.Name = name(eoIn.Name), name(eoCounts.Name)
	var calls atomic.Int64
	counter := topology.Agent[int64]{
		Name:  name("eo-counter"),
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(eoIn,
			func(c *topology.Context[int64], key string, _ string) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				if err := topology.Emit(c, eoCounts, key, n+1); err != nil {
					return err
				}
				if handled != nil {
					handled(c, calls.Add(1))
				}
				return nil
			})},
		Outputs: []topology.Topic{eoCounts},
	}
	return &topology.Graph{
		Name:    "eo",
		Sources: []topology.Topic{eoIn},
		Sinks:   []topology.Topic{eoCounts},
		Agents:  []topology.AgentDecl{counter},
	}
}

// produceEOKeys writes n records over keys k-0 .. k-(keys-1) to eo-in and
// returns the records per key.
func produceEOKeys(t *testing.T, addrs []string, n, keys int) map[string]int64 {
	t.Helper()
	return produceEOKeysTo(t, addrs, eoIn.Name, n, keys)
}

// produceEOKeysTo is produceEOKeys to topic.
func produceEOKeysTo(t *testing.T, addrs []string, topic string, n, keys int) map[string]int64 {
	t.Helper()
	eoIn := topology.Stream[string]{Name: topic}
	want := map[string]int64{}
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		k := "k-" + strconv.Itoa(i%keys)
		want[k]++
		recs = append(recs, &kgo.Record{Topic: eoIn.Name, Key: []byte(k), Value: []byte(strconv.Itoa(i))})
	}
	kafkatest.Produce(t, addrs, eoIn.Name, recs...)
	return want
}

// checkExactlyOnce fails t unless eo-counts, read committed, holds each key's
// counts 1..want[key] exactly once and in order, and was written in
// transactions; it returns the number of records it holds.
func checkExactlyOnceOutput(t *testing.T, addrs []string, want map[string]int64) int {
	t.Helper()
	return checkExactlyOnceOutputOf(t, addrs, eoCounts.Name, want)
}

// checkExactlyOnceOutputOf is checkExactlyOnceOutput of topic.
func checkExactlyOnceOutputOf(t *testing.T, addrs []string, topic string, want map[string]int64) int {
	t.Helper()
	eoCounts := topology.Stream[int64]{Name: topic}
	recs, markers := kafkatest.ReadCommitted(t, addrs, eoCounts.Name)
	if markers == 0 {
		t.Errorf("%s has no transaction markers: it was not written in transactions", eoCounts.Name)
	}
	next := map[string]int64{}
	dups := 0
	for _, r := range recs {
		k := string(r.Key)
		n, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			t.Fatalf("%s: value %q: %v", eoCounts.Name, r.Value, err)
		}
		if n != next[k]+1 {
			if n <= next[k] {
				dups++
			}
			t.Errorf("%s %d/%d: count %s=%d after %d, want %d", eoCounts.Name, r.Partition, r.Offset, k, n, next[k], next[k]+1)
			if dups > 10 {
				t.FailNow()
			}
		}
		next[k] = max(next[k], n)
	}
	for k, n := range want {
		if next[k] != n {
			t.Errorf("last count of %s = %d, want %d, its records", k, next[k], n)
		}
	}
	return len(recs)
}

// checkState fails t unless the agent's local tables under dataDir hold
// want, the records per key.
func checkState(t *testing.T, dataDir string, want map[string]int64) {
	t.Helper()
	checkStateOf(t, dataDir, "eo-counter", want)
}

// checkStateOf is checkState of agent.
func checkStateOf(t *testing.T, dataDir, agent string, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	dir := filepath.Join(dataDir, "state", agent)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no table under %s: %v", dataDir, err)
	}
	build := tables.Builder(dir)
	for p := range int32(topology.DefaultPartitions) {
		st, err := build(topology.TableName(agent), p)
		if err != nil {
			t.Fatalf("open partition %d in %s: %v", p, dir, err)
		}
		it, err := st.Iterator()
		if err != nil {
			t.Fatalf("iterate partition %d: %v", p, err)
		}
		for it.Next() {
			v, err := it.Value()
			if err != nil {
				t.Fatalf("partition %d: %v", p, err)
			}
			n, err := topology.Int64().Decode(v)
			if err != nil {
				t.Fatalf("partition %d: key %q: %v", p, it.Key(), err)
			}
			got[string(it.Key())] = n
		}
		it.Release()
		if err := st.Close(); err != nil {
			t.Fatalf("close partition %d: %v", p, err)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("stored count of %s = %d, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stored counts for %d keys, want %d", len(got), len(want))
	}
}

// TestExactlyOnceCounts pins the mode on its happy path, on the embedded
// broker and on Apache Kafka, with a graceful stop in the middle: counts
// equal the inputs, in the output (read committed) and in the table. With
// the local tables wiped before the restart, they are recovered from the
// changelog, which ends in a transaction marker. On Kafka, its own tool
// then finds no transaction of the agent left open (kafka-transactions list
// and find-hanging).
func TestExactlyOnceCounts(t *testing.T) {
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		for _, wipe := range []bool{false, true} {
			t.Run(fmt.Sprintf("wipe=%v", wipe), func(t *testing.T) {
				exactlyOnceCounts(t, b, func(s string) string { return b.Name(fmt.Sprintf("w%v-%s", wipe, s)) }, wipe)
			})
		}
	})
}

func exactlyOnceCounts(t *testing.T, b *kafkatest.Broker, name func(string) string, wipe bool) {
	addrs := b.Addrs()
	in, out, agent := name(eoIn.Name), name(eoCounts.Name), name("eo-counter")
	dataDir := t.TempDir()
	var handled atomic.Int64
	g := eoGraphNamed(name, func(_ context.Context, n int64) { handled.Store(n) })
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dataDir), topology.ExactlyOnce(topology.DefaultCommitInterval)}
	stop := running(t, g, opts...)
	want := produceEOKeysTo(t, addrs, in, 2000, 20)
	waitUntil(t, time.Minute, "500 records handled", func() bool { return handled.Load() >= 500 })
	stop()
	for k, n := range produceEOKeysTo(t, addrs, in, 1000, 20) {
		want[k] += n
	}
	if wipe {
		if err := os.RemoveAll(filepath.Join(dataDir, "state")); err != nil {
			t.Fatal(err)
		}
	}
	stop = running(t, g, opts...)
	waitCommitted(t, addrs, agent, in, time.Minute)
	stop()
	if n := checkExactlyOnceOutputOf(t, addrs, out, want); n != 3000 {
		t.Errorf("%s holds %d committed counts, want 3000", out, n)
	}
	checkStateOf(t, dataDir, agent, want)
	if c := b.Kafka(); c != nil {
		checkNoOpenTransactions(t, c, "sluice-"+agent+"-", out, topology.TableName(agent))
	}
}

// TestExactlyOnceRefusesAsyncInputs: the results of asynchronous inputs are
// written outside the record's transaction, so Run refuses them rather than
// run them at-least-once.
func TestExactlyOnceRefusesAsyncInputs(t *testing.T) {
	agent := topology.Agent[int64]{
		Name:  "eo-slow",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.ConsumeAsync(seqIn, 2, topology.Int64(),
			func(_ context.Context, _ string, seq int64) (int64, error) { return seq, nil },
			func(c *topology.Context[int64], _ string, seq int64) error { return c.SetState(seq) })},
	}
	g := &topology.Graph{Name: "eo-async", Sources: []topology.Topic{seqIn}, Agents: []topology.AgentDecl{agent}}
	err := topology.Run(t.Context(), g, topology.Brokers("127.0.0.1:1"), topology.DataDir(t.TempDir()), topology.ExactlyOnce(topology.DefaultCommitInterval))
	if !errors.Is(err, topology.ErrExactlyOnce) {
		t.Fatalf("Run(ExactlyOnce) of an agent with async inputs = %v, want %v", err, topology.ErrExactlyOnce)
	}
}

// The child process of TestExactlyOnceSIGKILL runs when these are set.
const (
	eoHelperBrokersEnv = "SLUICE_EO_HELPER_BROKERS"
	eoHelperDirEnv     = "SLUICE_EO_HELPER_DIR"
	eoHelperHoldEnv    = "SLUICE_EO_HELPER_HOLD" // hold the call that makes this many calls
)

// TestExactlyOnceHelperProcess is the child of TestExactlyOnceSIGKILL, not a
// test: it runs eoGraph in exactly-once mode until SIGTERM (then Run returns)
// or SIGKILL, printing "handled N" every 100 calls, and "holding N" when it
// holds call N until it is killed.
func TestExactlyOnceHelperProcess(t *testing.T) {
	brokers := os.Getenv(eoHelperBrokersEnv)
	if brokers == "" {
		t.Skip("the child process of TestExactlyOnceSIGKILL")
	}
	hold, _ := strconv.ParseInt(os.Getenv(eoHelperHoldEnv), 10, 64)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	g := eoGraph(func(c context.Context, n int64) {
		if n%100 == 0 {
			fmt.Println("handled", n)
		}
		if n == hold {
			fmt.Println("holding", n)
			<-c.Done()
		}
	})
	err := topology.Run(ctx, g, topology.Brokers(strings.Split(brokers, ",")...),
		topology.DataDir(os.Getenv(eoHelperDirEnv)), topology.ExactlyOnce(topology.DefaultCommitInterval),
		topology.RestartBackoff(50*time.Millisecond, time.Second),
		topology.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(2)
	}
}

// eoChild is a running TestExactlyOnceHelperProcess.
type eoChild struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
}

func startEOChild(t *testing.T, addrs []string, dataDir string, hold int64) *eoChild {
	t.Helper()
	return startChild(t, "TestExactlyOnceHelperProcess", eoHelperBrokersEnv+"="+strings.Join(addrs, ","),
		eoHelperDirEnv+"="+dataDir, eoHelperHoldEnv+"="+strconv.FormatInt(hold, 10))
}

// startChild runs this test binary's test named helper in a child process
// with env added to this process's environment.
func startChild(t *testing.T, helper string, env ...string) *eoChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c := &eoChild{t: t, cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody waits for progress lines
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	return c
}

// waitLine waits for a line starting with prefix.
func (c *eoChild) waitLine(prefix string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-c.done:
			c.t.Fatalf("child exited (%v) before printing %q", c.cmd.ProcessState, prefix)
		case <-deadline:
			c.t.Fatalf("child did not print %q within %v", prefix, timeout)
		}
	}
}

// stop sends sig and waits for the child to exit.
func (c *eoChild) stop(sig syscall.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal child: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.t.Fatalf("child still running a minute after %v", sig)
	}
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case sig == syscall.SIGKILL && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL):
		c.t.Fatalf("child ended with %v, want death by SIGKILL", c.cmd.ProcessState)
	case sig != syscall.SIGKILL && !c.cmd.ProcessState.Success():
		c.t.Fatalf("child ended with %v after %v, want a clean exit", c.cmd.ProcessState, sig)
	}
}

// uncommitted returns how many records of topic belong to transactions that
// are still open: the high watermarks above the last stable offsets.
func uncommitted(t *testing.T, addrs []string, topic string) int64 {
	t.Helper()
	adm := kafkatest.Admin(t, addrs)
	hwm, err := adm.ListEndOffsets(t.Context(), topic)
	if err == nil {
		err = hwm.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	lso, err := adm.ListCommittedOffsets(t.Context(), topic)
	if err == nil {
		err = lso.Error()
	}
	if err != nil {
		t.Fatalf("stable offsets of %s: %v", topic, err)
	}
	var n int64
	hwm.Each(func(o kadm.ListedOffset) {
		if s, ok := lso.Lookup(topic, o.Partition); ok {
			n += o.Offset - s.Offset
		}
	})
	return n
}

// TestExactlyOnceSIGKILL kills the counting agent's process (SIGKILL) while
// it holds one record's call and has written counts and state changes in
// open transactions, twice, and restarts it each time on the same data dir.
// After the last run stops, the counts equal the inputs exactly: in the
// output as a read_committed consumer sees it (each count once, in order), in
// the changelog, and in the local tables the killed processes wrote.
func TestExactlyOnceSIGKILL(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	dataDir := t.TempDir()
	if _, err := topology.Provision(t.Context(), eoGraph(nil), topology.Brokers(addrs...)); err != nil {
		t.Fatalf("provision: %v", err)
	}
	want := produceEOKeys(t, addrs, 3000, 20)
	for i, hold := range []int64{1200, 1700} {
		c := startEOChild(t, addrs, dataDir, hold)
		c.waitLine("holding", 2*time.Minute)
		if i == 1 {
			for k, n := range produceEOKeys(t, addrs, 1000, 20) {
				want[k] += n
			}
		}
		open := int64(0)
		waitUntil(t, time.Minute, "counts in an open transaction", func() bool {
			open = uncommitted(t, addrs, eoCounts.Name)
			return open > 0
		})
		c.stop(syscall.SIGKILL)
		t.Logf("run %d: killed holding call %d, %d counts in open transactions", i+1, hold, open)
	}
	c := startEOChild(t, addrs, dataDir, 0)
	waitCommitted(t, addrs, "eo-counter", eoIn.Name, 2*time.Minute)
	c.stop(syscall.SIGTERM)
	if n := checkExactlyOnceOutput(t, addrs, want); n != 4000 {
		t.Errorf("%s holds %d committed counts, want 4000", eoCounts.Name, n)
	}
	last := map[string]int64{}
	changelog, _ := kafkatest.ReadCommitted(t, addrs, "eo-counter-table")
	for _, r := range changelog {
		n, err := topology.Int64().Decode(r.Value)
		if err != nil {
			t.Fatalf("changelog value %q: %v", r.Value, err)
		}
		last[string(r.Key)] = n
	}
	for k, n := range want {
		if last[k] != n {
			t.Errorf("changelog count of %s = %d, want %d", k, last[k], n)
		}
	}
	checkState(t, dataDir, want)
	checkView(t, addrs, want)
}

// checkView fails t unless a View in exactly-once mode of the agent's table
// recovers (the changelog ends in a transaction marker, which goka would wait
// for forever with a plain read_committed consumer) and holds want.
func checkView(t *testing.T, addrs []string, want map[string]int64) {
	t.Helper()
	table := topology.Table[int64]{Name: topology.TableName("eo-counter"), Codec: topology.Int64()}
	v, err := topology.NewView(table, topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.ExactlyOnce(topology.DefaultCommitInterval))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("view Run = %v, want nil after cancel", err)
		}
	}()
	wctx, wcancel := context.WithTimeout(t.Context(), time.Minute)
	defer wcancel()
	if err := v.WaitRecovered(wctx); err != nil {
		t.Fatalf("view WaitRecovered: %v", err)
	}
	for k, n := range want {
		if got, ok, err := v.Get(k); err != nil || got != n {
			t.Errorf("view Get(%s) = %d, %t, %v, want %d", k, got, ok, err, n)
		}
	}
	// The view reads transaction markers as offsets it holds: once caught
	// up, it lacks nothing of the last stable offsets.
	waitUntil(t, 10*time.Second, "the view's lag to be 0", func() bool { return v.Freshness().Lag == 0 })
}

// TestExactlyOnceBrokerBounce stops the broker for 4 s under a steady stream
// and starts it again on the same data dir and port: the agent's writes fail,
// its open transactions are aborted, and it is restarted; afterwards every
// record is counted exactly once in the output, the changelog and the table.
func TestExactlyOnceBrokerBounce(t *testing.T) {
	rb := startRestartable(t)
	dataDir := t.TempDir()
	var handled atomic.Int64
	g := eoGraph(func(_ context.Context, n int64) { handled.Store(n) })
	logger, logs := newLogRecorder()
	opts := []topology.Option{topology.Brokers(rb.addrs()...), topology.DataDir(dataDir), topology.ExactlyOnce(topology.DefaultCommitInterval),
		topology.RestartBackoff(50*time.Millisecond, 500*time.Millisecond), topology.WithLogger(logger)}
	stop := running(t, g, opts...)
	prod := produceSteadily(t, rb.addrs(), eoIn.Name, 20, 2*time.Millisecond)
	waitUntil(t, time.Minute, "500 records handled", func() bool { return handled.Load() >= 500 })
	rb.stop()
	pause(t, 4*time.Second)
	rb.start()
	before := prod.total.Load()
	waitUntil(t, time.Minute, "500 more records acknowledged", func() bool { return prod.total.Load() >= before+500 })
	acked := prod.stop()
	want := acked // per key user-N
	var total int64
	for _, n := range acked {
		total += n
	}
	waitCommitted(t, rb.addrs(), "eo-counter", eoIn.Name, 2*time.Minute)
	stop()
	if n := checkExactlyOnceOutput(t, rb.addrs(), want); int64(n) != total {
		t.Errorf("%s holds %d committed counts, want %d", eoCounts.Name, n, total)
	}
	checkState(t, dataDir, want)
	t.Logf("%d records; %d agent restarts, %d transactions aborted at close", total,
		len(logs.find("agent failed; restarting")), len(logs.find("transaction aborted")))
}
