package benchmarks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/sluicehq/sluice/topology"
)

// emitterRecords is the number of records one emitter run writes.
const emitterRecords = 300_000

// runEmitter writes records records (1,000 keys, 100-byte values) to a fresh
// 8-partition topic through impl's emitter and returns the time from the first
// send until every write was acknowledged. Each emitter writes one record
// before, so that connecting is not measured. A failed write fails tb: sluice's
// from Flush, goka's from its promises, which the benchmark checks.
func runEmitter(tb testing.TB, addrs []string, impl, topic string, records int) time.Duration {
	tb.Helper()
	createTopics(tb, addrs, false, topic)
	defer deleteTopics(tb, addrs, topic)
	ks := keys("key", 1000)
	var took time.Duration
	switch impl {
	case "sluice":
		s := topology.Stream[[]byte]{Name: topic, Codec: topology.Bytes(), Partitions: partitions}
		e, err := topology.NewEmitter(s, topology.Brokers(addrs...))
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.Write(context.Background(), "warm", value100); err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		for i := range records {
			if err := e.Send(string(ks[i%len(ks)]), value(i)); err != nil {
				tb.Fatal(err)
			}
		}
		if err := e.Flush(context.Background()); err != nil {
			tb.Fatal(err)
		}
		took = time.Since(start)
		if err := e.Close(); err != nil {
			tb.Fatal(err)
		}
	case "goka":
		cfg := gokaConfig()
		e, err := goka.NewEmitter(addrs, goka.Stream(topic), new(codec.Bytes),
			goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(cfg)),
			goka.WithEmitterTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, gokaTopicManagerConfig())),
			goka.WithEmitterLogger(gokaQuiet))
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.EmitSync("warm", value100); err != nil {
			tb.Fatal(err)
		}
		var failed atomic.Int64
		var firstErr atomic.Pointer[error]
		start := time.Now()
		for i := range records {
			p, err := e.Emit(string(ks[i%len(ks)]), value(i))
			if err != nil {
				tb.Fatal(err)
			}
			p.Then(func(err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				}
			})
		}
		if err := e.Finish(); err != nil {
			tb.Fatal(err)
		}
		took = time.Since(start)
		if n := failed.Load(); n > 0 {
			tb.Fatalf("goka emitter: %d writes failed, the first: %v", n, *firstErr.Load())
		}
	default:
		tb.Fatalf("unknown impl %q", impl)
	}
	return took
}

// BenchmarkEmitter measures writing 300,000 records of 100 bytes from outside
// the graph: sluice's topology.Emitter (Send, then Flush, which reports every
// failed write) against goka's Emitter with goka's defaults (Emit, then
// Finish). Unit: msgs/s until every write was acknowledged, the median over
// the rounds; sluice's rows add the ratio to goka's.
func BenchmarkEmitter(b *testing.B) {
	var vs []variant
	for _, v := range benchVariants(b, "sluice", "goka") {
		if v.mode == atLeastOnce { // an emitter writes outside transactions
			vs = append(vs, v)
		}
	}
	res := interleave(b, vs, func(v variant, round int) countResult {
		took := runEmitter(b, v.env.addrs, v.impl, fmt.Sprintf("emit-%s-%d", v.impl, round), emitterRecords)
		return countResult{records: emitterRecords, took: took}
	})
	reportRates(b, vs, res, countResult.rate, "msgs/s")
}
