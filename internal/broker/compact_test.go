package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// The compaction tests write versions 1..versions of each of keys keys, one
// ProduceSync per version so that versions never share a batch, and then a
// lone sentinel record. kfake never cleans a partition's last batch (its
// stand-in for Kafka's active segment) and looks for newer records of a key
// only in the batches it cleans. Without the sentinel the last versions would
// sit in that last batch and every older version would survive; with it,
// after compaction every key must appear exactly once, at its last version,
// followed by the sentinel.
const (
	keys     = 5
	versions = 3
	sentinel = "sentinel"
)

func compacted() map[string]*string {
	compact := "compact"
	return map[string]*string{"cleanup.policy": &compact}
}

func writeVersions(t *testing.T, addrs []string, topic string) {
	t.Helper()
	for v := 1; v <= versions; v++ {
		var recs []*kgo.Record
		for k := range keys {
			recs = append(recs, &kgo.Record{
				Key:   fmt.Appendf(nil, "k%d", k),
				Value: fmt.Appendf(nil, "v%d", v),
			})
		}
		kafkatest.Produce(t, addrs, topic, recs...)
	}
	kafkatest.Produce(t, addrs, topic, &kgo.Record{Key: []byte(sentinel), Value: []byte(sentinel)})
}

// latestOnly reports whether recs hold each key exactly once at its last
// version, then the sentinel; if not, it says why.
func latestOnly(recs []*kgo.Record) error {
	if len(recs) != keys+1 {
		return fmt.Errorf("got %d records, want %d (one per key and the sentinel)", len(recs), keys+1)
	}
	seen := make(map[string]bool)
	for _, r := range recs[:keys] {
		if want := fmt.Sprintf("v%d", versions); string(r.Value) != want || seen[string(r.Key)] {
			return fmt.Errorf("record %s=%s at offset %d, want each key once at %s", r.Key, r.Value, r.Offset, want)
		}
		seen[string(r.Key)] = true
	}
	if last := recs[keys]; string(last.Key) != sentinel {
		return fmt.Errorf("last record has key %s, want %s", last.Key, sentinel)
	}
	return nil
}

// TestCompactKeepsLatestPerKey pins that Compact cleans a compacted topic
// down to the latest record per key, and that nothing else cleaned it first.
func TestCompactKeepsLatestPerKey(t *testing.T) {
	b := kafkatest.Start(t, broker.CleanerInterval(time.Hour))
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "table", 1, compacted())
	writeVersions(t, addrs, "table")

	if got, want := len(kafkatest.ConsumeAll(t, addrs, "table")), keys*versions+1; got != want {
		t.Fatalf("before Compact: got %d records, want all %d", got, want)
	}
	b.Compact()
	if err := latestOnly(kafkatest.ConsumeAll(t, addrs, "table")); err != nil {
		t.Fatalf("after Compact: %v", err)
	}
}

// TestCleanerIntervalCompacts pins that CleanerInterval alone, without
// Compact, makes the broker compact.
func TestCleanerIntervalCompacts(t *testing.T) {
	b := kafkatest.Start(t, broker.CleanerInterval(100*time.Millisecond))
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "table", 1, compacted())
	writeVersions(t, addrs, "table")

	kafkatest.WaitFor(t, 5*time.Second, func() bool {
		return latestOnly(kafkatest.ConsumeAll(t, addrs, "table")) == nil
	})
}

// TestCleanerLeavesUnchangedTables pins that the periodic cleaner compacts a
// compacted topic again only once it took records since its last
// compaction: kfake's compaction reads every batch of every compacted
// partition, and a broker holding a large table spent a burst of CPU on it
// every interval. Compact still compacts at once.
func TestCleanerLeavesUnchangedTables(t *testing.T) {
	const interval = 50 * time.Millisecond
	log := &messageCount{msg: "broker: compacted"}
	b := kafkatest.Start(t, broker.CleanerInterval(interval), broker.WithLogger(slog.New(log)))
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "table", 1, compacted())
	writeVersions(t, addrs, "table")
	kafkatest.WaitFor(t, 5*time.Second, func() bool {
		return latestOnly(kafkatest.ConsumeAll(t, addrs, "table")) == nil
	})

	n := log.count()
	time.Sleep(10 * interval)
	if got := log.count(); got != n {
		t.Fatalf("%d compactions in %v without a record written, want none", got-n, 10*interval)
	}
	kafkatest.Produce(t, addrs, "table", &kgo.Record{Key: []byte("k0"), Value: []byte("v4")})
	kafkatest.WaitFor(t, 5*time.Second, func() bool { return log.count() > n })
	n = log.count()
	if !b.Compact() || log.count() != n+1 {
		t.Errorf("Compact did not compact a table that took no record since (%d compactions)", log.count()-n)
	}
}

// messageCount is a slog handler that counts the records of one message.
type messageCount struct {
	msg string
	n   atomic.Int64
}

func (*messageCount) Enabled(context.Context, slog.Level) bool { return true }
func (c *messageCount) WithAttrs([]slog.Attr) slog.Handler     { return c }
func (c *messageCount) WithGroup(string) slog.Handler          { return c }
func (c *messageCount) count() int64                           { return c.n.Load() }

func (c *messageCount) Handle(_ context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return nil
}
