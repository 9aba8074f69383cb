package topology_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestFailedChangelogWriteIsWrittenAgain pins that local state never holds a
// write its changelog did not get. goka writes a record's new state to local
// storage before it produces the changelog record; if that produce fails, the
// processor stops and replays the record. Had the unacknowledged value stayed
// in local storage, the replay would read it back as the current state, and a
// handler that writes only changes (a feature store, a "latest value" table)
// would write nothing and commit: the changelog, every view of the table and
// any rebuild of it would never see the value.
func TestFailedChangelogWriteIsWrittenAgain(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	in := topology.Stream[string]{Name: "latest-in", Codec: topology.String()}
	a := topology.Agent[string]{
		Name:  "latest",
		State: topology.String(),
		Inputs: []topology.Input[string]{topology.Consume(in,
			func(c *topology.Context[string], key string, v string) error {
				cur, ok, err := c.State()
				if err != nil || (ok && cur == v) {
					return err // unchanged: nothing to write
				}
				return c.SetState(v)
			})},
	}
	g := &topology.Graph{Name: "latest", Sources: []topology.Topic{in}, Agents: []topology.AgentDecl{a}, Partitions: 1}
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()),
		topology.RestartBackoff(100*time.Millisecond, 100*time.Millisecond)}
	stop := running(t, g, opts...)
	table := topology.TableName("latest")

	last := func() string {
		v := ""
		for _, r := range kafkatest.ConsumeAll(t, addrs, table) {
			if string(r.Key) == "k" {
				v = string(r.Value)
			}
		}
		return v
	}
	// Another key's write last: goka's recovery starts at the stored offset,
	// the last acknowledged changelog record, and rewrites that record's key.
	kafkatest.Produce(t, addrs, in.Name, &kgo.Record{Key: []byte("k"), Value: []byte("a")},
		&kgo.Record{Key: []byte("other"), Value: []byte("x")})
	waitUntil(t, 30*time.Second, `the changelog to hold "a"`, func() bool { return last() == "a" })
	waitCommitted(t, addrs, "latest", in.Name, 30*time.Second)

	// The next changelog write fails (a retriable error: the processor's
	// producer does not retry, it stops and the record is replayed).
	f := b.Fail(kmsg.Produce, kerr.NotLeaderForPartition, 1, broker.ForTopic(table))
	kafkatest.Produce(t, addrs, in.Name, &kgo.Record{Key: []byte("k"), Value: []byte("b")})
	waitUntil(t, 30*time.Second, "the changelog write to fail", func() bool { return f.Hits() == 1 })
	waitUntil(t, 30*time.Second, `the changelog to hold "b" after the failed write`, func() bool { return last() == "b" })
	stop()
}
