package window_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology"
)

// BenchmarkWindowAggregate runs a hopping sum (1 minute windows every 10
// seconds: 6 windows per record, one result each) over 1,000 keys on the
// embedded broker with Pebble tables, and reports msgs/s from the first write
// of a batch of 2,000 records until the agent has aggregated all of them.
//
//	go test -run '^$' -bench WindowAggregate -benchtime 20x ./processors/window
//
// Only store=pebble: topology.Run has no option to choose goka's LevelDB
// storage for agent tables, which store=leveldb (issue 5 item 6) needs.
func BenchmarkWindowAggregate(b *testing.B) {
	b.Run("store=pebble", func(b *testing.B) {
		const keys, batch = 1000, 2000
		br := kafkatest.Start(b)
		addrs := br.Addrs()
		c := config(window.Hopping, 60_000, 10_000, 5_000, window.Sum)
		c.Metrics = new(window.Metrics)
		g, _ := graph(b, c)
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		ready := make(chan struct{})
		go func() {
			done <- topology.Run(ctx, g, topology.Brokers(addrs...), topology.DataDir(b.TempDir()),
				topology.OnBroker(func([]string) { close(ready) }))
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		}()
		<-ready
		cl := kafkatest.Client(b, addrs, kgo.DefaultProduceTopic(txns.Name))
		value, _ := txns.Codec.Encode(txn{Amount: 1.5})
		ts := time.Now()
		sent := int64(0)
		// process writes a batch and waits until the agent aggregated it.
		process := func() {
			recs := make([]*kgo.Record, batch)
			for i := range recs {
				ts = ts.Add(time.Millisecond)
				recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%keys), Value: value, Timestamp: ts}
			}
			if err := cl.ProduceSync(b.Context(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			sent += batch
			wait, wcancel := context.WithTimeout(b.Context(), 2*time.Minute)
			defer wcancel()
			for c.Metrics.Records() < sent {
				select {
				case <-wait.Done():
					b.Fatalf("aggregated %d of %d records", c.Metrics.Records(), sent)
				case <-time.After(time.Millisecond):
				}
			}
		}
		process() // warm up: the agent joins its group and creates every key's state
		warm := sent
		b.ReportAllocs()
		for b.Loop() {
			process()
		}
		b.ReportMetric(float64(sent-warm)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(0, "ns/op")
	})
}
