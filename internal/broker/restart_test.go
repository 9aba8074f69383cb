package broker_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// start starts a broker the test closes itself, and closes it in Cleanup in
// case the test fails first.
func start(t *testing.T, opts ...broker.Option) *broker.Broker {
	t.Helper()
	b, err := broker.Start(opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func closeBroker(t *testing.T, b *broker.Broker) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestRestartServesRecordsAndOffsets pins that a broker restarted on the same
// data dir and port serves every record and committed group offset again,
// and that a client connected before the restart reaches it without being
// told anything: the port is free right after Close.
func TestRestartServesRecordsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	b := start(t, broker.DataDir(dir))
	addrs := b.Addrs()

	const topic, group, n = "events", "g", 30
	kafkatest.CreateTopic(t, addrs, topic, 3, nil)
	want := make(map[string]string)
	var recs []*kgo.Record
	for i := range n {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		want[k] = v
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(v)})
	}
	kafkatest.Produce(t, addrs, topic, recs...)

	adm := kafkatest.Admin(t, addrs) // kept across the restart
	var commit kadm.Offsets
	for p := range int32(3) {
		commit.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(p) + 1, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(t.Context(), group, commit); err != nil {
		t.Fatalf("CommitAllOffsets: %v", err)
	}

	closeBroker(t, b)
	b = start(t, broker.DataDir(dir), broker.Listen(addrs[0]))
	if got := b.Addrs(); len(got) != 1 || got[0] != addrs[0] {
		t.Fatalf("restarted broker listens on %v, want %v", got, addrs)
	}

	got, err := adm.FetchOffsets(t.Context(), group)
	if err == nil {
		err = got.Error()
	}
	if err != nil {
		t.Fatalf("FetchOffsets after restart: %v", err)
	}
	for p := range int32(3) {
		o, ok := got.Lookup(topic, p)
		if !ok || o.At != int64(p)+1 {
			t.Errorf("committed offset of %s/%d after restart = %d (found %v), want %d", topic, p, o.At, ok, p+1)
		}
	}

	read := make(map[string]string)
	for _, r := range kafkatest.ConsumeN(t, b.Addrs(), topic, n) {
		read[string(r.Key)] = string(r.Value)
	}
	if !maps.Equal(read, want) {
		t.Fatalf("records after restart = %v, want %v", read, want)
	}
}

// TestCleanerRunsAfterRestart pins that a compacted topic created before a
// restart is still cleaned by the restarted broker's cleaner.
func TestCleanerRunsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := start(t, broker.DataDir(dir), broker.CleanerInterval(time.Hour))
	kafkatest.CreateTopic(t, b.Addrs(), "table", 1, compacted())
	writeVersions(t, b.Addrs(), "table")
	closeBroker(t, b)

	b = start(t, broker.DataDir(dir), broker.CleanerInterval(100*time.Millisecond))
	kafkatest.WaitFor(t, 5*time.Second, func() bool {
		return latestOnly(kafkatest.ConsumeAll(t, b.Addrs(), "table")) == nil
	})
}
