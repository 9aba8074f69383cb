package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology"
)

// windowStores are the table stores BenchmarkWindowAggregate compares:
// sluice's Pebble store (the default) and goka's LevelDB store, chosen with
// topology.Storage. Both sit behind sluice's write-behind cache.
var windowStores = []string{"pebble", "leveldb"}

// windowKeys is the number of keys the window workload aggregates.
const windowKeys = 1000

type windowTxn struct {
	Amount float64 `json:"amount"`
}

// windowWorkload is a running hopping-sum agent on store and a producer of its
// input.
type windowWorkload struct {
	in      topology.Stream[windowTxn]
	metrics *window.Metrics
	prod    *kgo.Client
	value   []byte
	ts      time.Time
	sent    int64
}

// startWindow runs a hopping sum (1 minute windows every 10 seconds: each
// record updates 6 windows and emits 6 results) named name over 8-partition
// topics on addrs, with its table in store.
func startWindow(tb testing.TB, addrs []string, store, name string) *windowWorkload {
	tb.Helper()
	w := &windowWorkload{
		in:      topology.Stream[windowTxn]{Name: name + "-txns", Codec: topology.JSON[windowTxn](), Partitions: partitions},
		metrics: new(window.Metrics),
		ts:      time.Now(),
	}
	out := topology.Stream[window.Result]{Name: name + "-results", Codec: topology.JSON[window.Result](), Partitions: partitions}
	late := topology.Stream[window.LateRecord[windowTxn]]{Name: name + "-late", Codec: topology.JSON[window.LateRecord[windowTxn]](), Partitions: partitions}
	agent, err := window.New(window.Config[windowTxn]{
		Name:        name,
		Input:       w.in,
		Value:       func(t windowTxn) float64 { return t.Amount },
		Kind:        window.Hopping,
		Size:        time.Minute,
		Advance:     10 * time.Second,
		Grace:       5 * time.Second,
		Aggregation: window.Sum,
		Output:      out,
		Late:        late,
		Metrics:     w.metrics,
	})
	if err != nil {
		tb.Fatal(err)
	}
	g := &topology.Graph{Name: name, Sources: []topology.Topic{w.in}, Sinks: []topology.Topic{out, late}, Agents: []topology.AgentDecl{agent}, Partitions: partitions}
	var opts []topology.Option
	switch store {
	case "pebble": // the default
	case "leveldb":
		opts = append(opts, topology.Storage(storage.DefaultBuilder))
	default:
		tb.Fatalf("unknown store %q", store)
	}
	r := startSluice(tb, addrs, g, opts...)
	tb.Cleanup(func() {
		r.stop(tb)
		deleteTopics(tb, addrs, w.in.Name, out.Name, late.Name, topology.TableName(name), topology.DeadLetterName(name))
	})
	w.prod = newKgo(tb, addrs, kgo.DefaultProduceTopic(w.in.Name), kgo.ProducerLinger(5*time.Millisecond))
	tb.Cleanup(w.prod.Close)
	w.value, _ = w.in.Codec.Encode(windowTxn{Amount: 1.5})
	return w
}

// process writes n records, 1 ms of event time apart, over windowKeys keys and
// waits until the agent has aggregated all of them.
func (w *windowWorkload) process(tb testing.TB, n int) {
	tb.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		w.ts = w.ts.Add(time.Millisecond)
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%windowKeys), Value: w.value, Timestamp: w.ts}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
	w.sent += int64(n)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for w.metrics.Records() < w.sent {
		select {
		case <-ctx.Done():
			tb.Fatalf("aggregated %d of %d records", w.metrics.Records(), w.sent)
		case <-tick.C:
		}
	}
}

// BenchmarkWindowAggregate runs the hopping sum of startWindow with its table
// in Pebble and in goka's LevelDB, and reports msgs/s from the first write of
// a batch of 2,000 records until the agent has aggregated all of them (the
// first batch, which creates every key's state, is not timed).
//
//	go test -run '^$' -bench WindowAggregate -benchtime 50x ./benchmarks
func BenchmarkWindowAggregate(b *testing.B) {
	const batch = 2000
	addrs := startBroker(b).Addrs()
	for _, store := range windowStores {
		b.Run("store="+store, func(b *testing.B) {
			w := startWindow(b, addrs, store, "win-"+store)
			w.process(b, batch) // warm up: the agent joins its group and creates every key's state
			warm := w.sent
			b.ReportAllocs()
			for b.Loop() {
				w.process(b, batch)
			}
			b.ReportMetric(float64(w.sent-warm)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
