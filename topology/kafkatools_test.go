package topology_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// These checks ask Apache Kafka's own command-line tools, a foreign check of
// what sluice's clients left on the cluster.

// checkNoOpenTransactions fails t unless kafka-transactions lists at least
// one transactional id starting with prefix (sluice's are
// sluice-GROUP-INSTANCE: gokax.TransactionalID of the agent's group and the
// data dir's instance name), every one of them complete, and find-hanging
// finds no hanging transaction on topics.
func checkNoOpenTransactions(t *testing.T, c *kafkareal.Cluster, prefix string, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := c.Tool(ctx, kafkareal.Transactions, "list")
	if err != nil {
		t.Fatalf("kafka-transactions list: %v", err)
	}
	found := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		found++
		if state := f[len(f)-1]; !slices.Contains([]string{"CompleteCommit", "CompleteAbort", "Empty"}, state) {
			t.Errorf("kafka-transactions list: %s is %s, want it complete after the agent stopped", f[0], state)
		}
	}
	if found == 0 {
		t.Fatalf("kafka-transactions list shows no transactional id %s*: the check would prove nothing\n%s", prefix, out)
	}
	for _, topic := range topics {
		out, err := c.Tool(ctx, kafkareal.Transactions, "find-hanging", "--topic", topic)
		if err != nil {
			t.Fatalf("kafka-transactions find-hanging --topic %s: %v", topic, err)
		}
		if rows := toolRows(out); len(rows) > 0 {
			t.Errorf("kafka-transactions find-hanging --topic %s found hanging transactions:\n%s", topic, out)
		}
	}
}

// toolRows returns the lines of a tool's table after its header, without
// blank lines and log lines.
func toolRows(out string) []string {
	var rows []string
	header := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(line, "["):
		case !header:
			header = true
		default:
			rows = append(rows, line)
		}
	}
	return rows
}

// TestLagAgreesWithKafka pins sluice's lag (observe.GraphLag, what the lag
// command and the live page show) on both brokers: a stopped agent's lag is
// the records produced since it committed, per partition; and on Apache
// Kafka, kafka-consumer-groups --describe reports the same committed
// offset, log end offset and lag for every partition.
func TestLagAgreesWithKafka(t *testing.T) {
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		addrs := b.Addrs()
		g := counterGraphNamed(b.Name)
		in, agent := b.Name(clicks.Name), b.Name("counter")
		opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir())}
		if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
			t.Fatal(err)
		}
		produceKeys(t, addrs, in, 20, 5)
		stop := running(t, g, opts...)
		waitCommitted(t, addrs, agent, in, time.Minute)
		stop()
		produceKeys(t, addrs, in, 37, 1) // the lag: 37 records over the partitions
		rows, err := observe.GraphLag(t.Context(), kafkatest.Client(t, addrs), g)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, r := range rows {
			if r.Group != agent || r.Topic != in {
				continue
			}
			total += r.Lag
			if r.Lag != r.End-r.Committed || r.Err != nil {
				t.Errorf("row %+v: lag is not end - committed", r)
			}
		}
		if total != 37 {
			t.Fatalf("GraphLag sums to %d for %s on %s, want 37: %+v", total, agent, in, rows)
		}
		c := b.Kafka()
		if c == nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := c.Tool(ctx, kafkareal.ConsumerGroups, "--describe", "--group", agent)
		if err != nil {
			t.Fatalf("kafka-consumer-groups --describe: %v", err)
		}
		theirs := map[int32][3]int64{} // partition -> current, end, lag
		for _, line := range toolRows(out) {
			f := strings.Fields(line)
			if len(f) < 6 || f[0] != agent || f[1] != in {
				continue
			}
			var v [4]int64
			for i, s := range f[2:6] {
				if v[i], err = strconv.ParseInt(s, 10, 64); err != nil {
					t.Fatalf("kafka-consumer-groups row %q: %v", line, err)
				}
			}
			theirs[int32(v[0])] = [3]int64{v[1], v[2], v[3]}
		}
		n := 0
		for _, r := range rows {
			if r.Group != agent || r.Topic != in {
				continue
			}
			n++
			if got, want := theirs[r.Partition], [3]int64{r.Committed, r.End, r.Lag}; got != want {
				t.Errorf("%s/%d: kafka-consumer-groups says current, end, lag = %v; sluice %v", in, r.Partition, got, want)
			}
		}
		if n != len(theirs) || n == 0 {
			t.Errorf("sluice has %d rows, kafka-consumer-groups %d:\n%s", n, len(theirs), out)
		}
	})
}
