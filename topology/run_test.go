package topology_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/tables"
	"github.com/sluicehq/sluice/topology"
)

var (
	clicks = topology.Stream[string]{Name: "clicks", Codec: topology.String()}
	counts = topology.Stream[int64]{Name: "counts", Codec: topology.Int64()}
)

// counterGraph counts records per key and emits each new count.
func counterGraph() *topology.Graph { return counterGraphNamed(nil) }

// counterGraphNamed is counterGraph with every name (clicks, counts,
// counter) passed through name, such as a kafkatest.Broker's Name; nil
// keeps the names.
func counterGraphNamed(name func(string) string) *topology.Graph {
	in, out := clicks, counts
	agent := "counter"
	if name != nil {
		in.Name, out.Name, agent = name(in.Name), name(out.Name), name(agent)
	}
	counter := topology.Agent[int64]{
		Name:  agent,
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(in,
			func(c *topology.Context[int64], key string, _ string) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return topology.Emit(c, out, key, n+1)
			})},
		Outputs: []topology.Topic{out},
	}
	return &topology.Graph{
		Name:    "count",
		Sources: []topology.Topic{in},
		Sinks:   []topology.Topic{out},
		Agents:  []topology.AgentDecl{counter},
	}
}

// running runs g until the test ends or stop is called; stop waits for Run and
// fails the test if it returned an error.
func running(t *testing.T, g *topology.Graph, opts ...topology.Option) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	// Assignments, for the failure message: at-least-once replays the records
	// since the last commit after a rebalance, which a CPU-starved process
	// may go through (its session expires), and a count then goes past its
	// value.
	var mu sync.Mutex
	var assigned []string
	opts = append(slices.Clone(opts), topology.OnAssign(func(agent string, parts []int32) {
		mu.Lock()
		defer mu.Unlock()
		assigned = append(assigned, fmt.Sprintf("%s %v at %s", agent, parts, time.Now().Format("15:04:05.000")))
	}))
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("assignments of this Run: %q", assigned)
		}
	})
	go func() { done <- topology.Run(ctx, g, opts...) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Run did not return within 60 s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// produceKeys writes perKey records for each of keys keys to topic.
func produceKeys(t *testing.T, addrs []string, topic string, keys, perKey int) {
	t.Helper()
	cl := kafkatest.Client(t, addrs)
	recs := make([]*kgo.Record, 0, keys*perKey)
	for i := range perKey {
		for k := range keys {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "user-%d", k), Value: strconv.AppendInt(nil, int64(i), 10)})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", len(recs), err)
	}
}

// latest follows topic and returns once every one of keys keys has value want.
func latest(t *testing.T, addrs []string, topic string, keys int, want int64) {
	t.Helper()
	cl := kafkatest.Client(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	last := map[string]int64{}
	ok := 0
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for ok < keys {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			var off []string
			for k, n := range last {
				if n != want && len(off) < 10 {
					off = append(off, fmt.Sprintf("%s=%d", k, n))
				}
			}
			t.Fatalf("%s: %d of %d keys reached %d before the deadline (%d keys seen; some others: %v)", topic, ok, keys, want, len(last), off)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				t.Fatalf("%s: value %q: %v", topic, r.Value, err)
			}
			k := string(r.Key)
			if last[k] != want && n == want {
				ok++
			} else if last[k] == want && n != want {
				ok--
			}
			last[k] = n
		})
	}
}

// readTables reads every partition of the agent's table from local storage.
func readTables(t *testing.T, dir, table string, partitions int) map[string]string {
	t.Helper()
	out := map[string]string{}
	build := tables.Builder(dir)
	for p := range partitions {
		s, err := build(table, int32(p))
		if err != nil {
			t.Fatalf("open %s/%d: %v", table, p, err)
		}
		it, err := s.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			v, err := it.Value()
			if err != nil {
				t.Fatal(err)
			}
			out[string(it.Key())] = string(v)
		}
		it.Release()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestRunCountsAndRecoversFromChangelog is the first end-to-end test, on the
// embedded broker and on Apache Kafka: a counting agent with Pebble tables
// has exact counts over many records and keys, its table topic is
// compacted, and after its local state is deleted the table recovered from
// the changelog equals what it was.
func TestRunCountsAndRecoversFromChangelog(t *testing.T) {
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		keys, perKey := 1000, 100
		if testing.Short() {
			keys, perKey = 200, 20
		}
		addrs := b.Addrs()
		dir := t.TempDir()
		g := counterGraphNamed(b.Name)
		in, out, agent := b.Name(clicks.Name), b.Name(counts.Name), b.Name("counter")
		logger, logs := newLogRecorder()
		opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir), topology.WithLogger(logger)}
		t.Cleanup(func() { logWarnings(t, logs) })

		if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
			t.Fatalf("Provision: %v", err)
		}
		produceKeys(t, addrs, in, keys, perKey)
		stop := running(t, g, opts...)
		latest(t, addrs, out, keys, int64(perKey))
		stop()

		// The changelog is compacted, as the broker reports it.
		rcs, err := kafkatest.Admin(t, addrs).DescribeTopicConfigs(t.Context(), topology.TableName(agent))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topology.TableName(agent), nil)
		if err != nil {
			t.Fatal(err)
		}
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		if policy != "compact" {
			t.Errorf("cleanup.policy of %s = %q, want compact", rc.Name, policy)
		}

		stateDir := filepath.Join(dir, "state", agent)
		before := readTables(t, stateDir, topology.TableName(agent), topology.DefaultPartitions)
		if len(before) != keys {
			t.Fatalf("table has %d keys, want %d", len(before), keys)
		}
		for k, v := range before {
			if v != strconv.Itoa(perKey) {
				t.Fatalf("table[%s] = %s, want %d", k, v, perKey)
			}
		}

		// Delete the local state: the restarted agent rebuilds it from the changelog,
		// so one more record per key counts perKey+1, and the tables match again.
		if err := os.RemoveAll(stateDir); err != nil {
			t.Fatal(err)
		}
		stop = running(t, g, opts...)
		produceKeys(t, addrs, in, keys, 1)
		latest(t, addrs, out, keys, int64(perKey+1))
		stop()
		after := readTables(t, stateDir, topology.TableName(agent), topology.DefaultPartitions)
		for k, v := range before {
			n, _ := strconv.Atoi(v)
			if after[k] != strconv.Itoa(n+1) {
				t.Fatalf("recovered table[%s] = %s after one more record, want %d", k, after[k], n+1)
			}
		}
		if len(after) != len(before) {
			t.Fatalf("recovered table has %d keys, want %d", len(after), len(before))
		}
	})
}

func TestRunUnknownAgent(t *testing.T) {
	err := topology.Run(t.Context(), counterGraph(), topology.Agents("nope"), topology.Brokers("127.0.0.1:1"))
	if !errors.Is(err, topology.ErrUnknownAgent) {
		t.Fatalf("Run = %v, want ErrUnknownAgent", err)
	}
}

// TestRunGivesUpOnPermanentProvisioningError pins that a replication factor the
// cluster cannot honour stops Run with Kafka's error instead of retrying forever.
func TestRunGivesUpOnPermanentProvisioningError(t *testing.T) {
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		err := topology.Run(ctx, counterGraphNamed(b.Name), topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()), topology.Replication(b.Nodes()+1))
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Run = %v (ctx %v), want a replication error before the deadline", err, ctx.Err())
		}
		if !strings.Contains(err.Error(), "REPLICATION") {
			t.Fatalf("Run = %v, want it to name the replication factor problem", err)
		}
	})
}

// TestRunStopsOnRefusedSessionTimeout pins that a session timeout the
// cluster refuses (below group.min.session.timeout.ms, 6 s on Kafka and on
// the embedded broker) stops Run with one line that names the value, the
// refusal and what to change, instead of franz-go rejoining forever while
// Run waits.
func TestRunStopsOnRefusedSessionTimeout(t *testing.T) {
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		for _, mode := range []string{"at-least-once", "exactly-once"} {
			t.Run(mode, func(t *testing.T) { runRefusedSessionTimeout(t, b, mode == "exactly-once") })
		}
	})
}

// TestRunStopsOnDeniedGroup runs the counter graph on the embedded broker
// while it answers every JoinGroup of the agent's group with
// GROUP_AUTHORIZATION_FAILED (no ACL grants the principal READ on it): Run
// returns ErrGroupRefused, on one line that says what to grant, once the
// denial outlasted the rebalance timeout (2 s here), not before it, instead
// of rejoining for ever. A denial that ends sooner is ridden out: the fault
// matrix pins it.
func TestRunStopsOnDeniedGroup(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.Start(t)
			b.Fail(kmsg.JoinGroup, kerr.GroupAuthorizationFailed, -1, broker.ForGroup("counter"))
			cfg := topology.DefaultKafkaConfig()
			cfg.Consumer.Group.Rebalance.Timeout = 2 * time.Second
			opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()), topology.KafkaConfig(cfg)}
			if mode == "exactly-once" {
				opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := topology.Run(ctx, counterGraph(), opts...)
			checkDenialStop(t, "Run", ctx, err, time.Since(start), topology.ErrGroupRefused,
				`"counter"`, "GROUP_AUTHORIZATION_FAILED", "READ", "kafka-acls")
		})
	}
}

// runRefusedSessionTimeout runs the counter graph on b with a 3 s session
// timeout and checks that Run returns ErrGroupRefused within 20 s, on one line.
func runRefusedSessionTimeout(t *testing.T, b *kafkatest.Broker, exactlyOnce bool) {
	cfg := topology.DefaultKafkaConfig()
	cfg.Consumer.Group.Session.Timeout = 3 * time.Second
	opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()), topology.KafkaConfig(cfg)}
	if exactlyOnce {
		opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := topology.Run(ctx, counterGraphNamed(b.Name), opts...)
	if ctx.Err() != nil {
		t.Fatalf("Run = %v after 20 s: it did not stop on the refused session timeout", err)
	}
	if !errors.Is(err, topology.ErrGroupRefused) {
		t.Fatalf("Run = %v, want ErrGroupRefused", err)
	}
	msg := err.Error()
	for _, want := range []string{b.Name("counter"), "INVALID_SESSION_TIMEOUT", "session timeout 3s",
		"Consumer.Group.Session.Timeout", "group.min.session.timeout.ms"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Run = %q, want it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("Run = %q, want one line", msg)
	}
}
