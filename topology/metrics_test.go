package topology_test

import (
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/topology"
)

// metricValue returns the value of the counter, gauge or histogram count name
// with exactly labels in reg, and whether it exists.
func metricValue(t *testing.T, reg *metrics.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// TestMetricsCountRecords runs the dead-letter agent on the broker over six good
// records and one the handler fails on, and checks every instrument moved by
// exactly what happened: 7 records in (and 7 latencies), 6 out (the failed
// record's buffered emit is not written), 1 dead letter with cause handler, one
// partition assignment, no restart.
func TestMetricsCountRecords(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	var touches atomic.Int64
	g, out := deadLetterGraph([]byte("x"), &touches)
	reg := metrics.New()
	opts := []topology.Option{
		topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Metrics(reg),
		topology.Retries(1), topology.RetryBackoff(time.Millisecond),
	}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	var recs []*kgo.Record
	for _, v := range []string{"1", "2", "3", strconv.Itoa(failHandler), "4", "5", "6"} {
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte(v)})
	}
	kafkatest.Produce(t, addrs, "in", recs...)

	stop := running(t, g, opts...)
	assertValues(t, kafkatest.ConsumeN(t, addrs, out.Name, 6), 1, 2, 3, 4, 5, 6)
	kafkatest.ConsumeN(t, addrs, topology.DeadLetterName("dl"), 1)
	stop()

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sluice_records_in_total", map[string]string{"agent": "dl", "topic": "in"}, 7},
		{"sluice_handler_seconds", map[string]string{"agent": "dl"}, 7},
		{"sluice_records_out_total", map[string]string{"agent": "dl", "topic": "out"}, 6},
		{"sluice_dead_letters_total", map[string]string{"agent": "dl", "cause": "handler"}, 1},
		{"sluice_restarts_total", map[string]string{"agent": "dl"}, 0},
		{"sluice_rebalances_total", map[string]string{"agent": "dl"}, 1},
		{"sluice_assigned_partitions", map[string]string{"agent": "dl"}, 2},
	} {
		got, ok := metricValue(t, reg, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
}

// TestMetricsCountRestarts makes an agent's processor fail on every run (the
// broker answers every write to its output topic that the agent may not
// write it, so goka's Run returns: a refusal of the topic, not of a record,
// which no dead letter helps) and checks that sluice_restarts_total counts
// exactly the restarts the supervisor logged.
func TestMetricsCountRestarts(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	b.Fail(kmsg.Produce, kerr.TopicAuthorizationFailed, -1, broker.ForTopic("out"))
	in := topology.Stream[string]{Name: "in", Codec: topology.String()}
	out := topology.Stream[string]{Name: "out", Codec: topology.String()}
	a := topology.Agent[struct{}]{
		Name: "big",
		Inputs: []topology.Input[struct{}]{topology.Consume(in,
			func(c *topology.Context[struct{}], key string, v string) error {
				return topology.Emit(c, out, key, v)
			})},
		Outputs: []topology.Topic{out},
	}
	g := &topology.Graph{Name: "big", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out},
		Agents: []topology.AgentDecl{a}, Partitions: 1}
	reg := metrics.New()
	logger, logs := newLogRecorder()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Metrics(reg),
		topology.WithLogger(logger), topology.RestartBackoff(50*time.Millisecond, 50*time.Millisecond)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	kafkatest.Produce(t, addrs, in.Name, &kgo.Record{Key: []byte("k"), Value: []byte("v")})

	stop := running(t, g, opts...)
	restarts := map[string]string{"agent": "big"}
	waitUntil(t, 60*time.Second, "two restarts", func() bool {
		n, _ := metricValue(t, reg, "sluice_restarts_total", restarts)
		return n >= 2
	})
	stop()
	got, _ := metricValue(t, reg, "sluice_restarts_total", restarts)
	if want := len(logs.find("agent failed; restarting")); got != float64(want) {
		t.Errorf("sluice_restarts_total = %v, want %d, the restarts logged", got, want)
	}
	if got, _ := metricValue(t, reg, "sluice_records_in_total", map[string]string{"agent": "big", "topic": "in"}); got == 0 {
		t.Errorf("sluice_records_in_total = 0, want the record counted at each run") // handled, then its write failed
	}
}

// TestMetricsRecovery deletes a counter's local table and restarts it: the
// recovery metrics report every changelog record restored (one per input
// record, as nothing was compacted) with none remaining, and the table's size
// on disk is reported.
func TestMetricsRecovery(t *testing.T) {
	const keys, perKey = 50, 20
	addrs := kafkatest.Start(t).Addrs()
	dir := t.TempDir()
	g := counterGraph()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	produceKeys(t, addrs, clicks.Name, keys, perKey)
	stop := running(t, g, opts...)
	latest(t, addrs, counts.Name, keys, perKey)
	stop()
	if err := os.RemoveAll(filepath.Join(dir, "state", "counter")); err != nil {
		t.Fatal(err)
	}

	reg := metrics.New()
	running(t, g, append(opts, topology.Metrics(reg))...)
	sum := func(name string) (total float64, partitions int) {
		mfs, err := reg.Gatherer().Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					total += value(m)
					partitions++
				}
			}
		}
		return total, partitions
	}
	waitUntil(t, 60*time.Second, "every changelog record restored", func() bool {
		restored, parts := sum("sluice_recovery_restored_records")
		remaining, _ := sum("sluice_recovery_remaining_records")
		return parts == topology.DefaultPartitions && restored == keys*perKey && remaining == 0
	})
	if n, ok := metricValue(t, reg, "sluice_table_bytes", map[string]string{"agent": "counter"}); !ok || n <= 0 {
		t.Errorf("sluice_table_bytes{agent=counter} = %v (present %v), want the size of the restored stores", n, ok)
	}
}
