package benchmarks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ceilingRecords is the number of records one ceiling run pipes.
const ceilingRecords = 1_000_000

// runCeiling pre-produces records records (1,000 keys, 100-byte values) to a
// fresh 8-partition topic and pipes them with one franz-go client, consuming
// the topic directly (no group) and producing each record to a second topic:
// the fastest consume->produce this broker and machine allow, with no state,
// no commits and no per-record bookkeeping. The time runs from the first fetch
// until every produced record was acknowledged.
func runCeiling(tb testing.TB, addrs []string, name string, records int) time.Duration {
	tb.Helper()
	in, out := name+"-in", name+"-out"
	createTopics(tb, addrs, false, in, out)
	defer deleteTopics(tb, addrs, in, out)
	ks := keys("key", 1000)
	produce(tb, addrs, in, records, func(i int) ([]byte, []byte) { return ks[i%len(ks)], value(i) })

	cl := newKgo(tb, addrs, kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(out), kgo.MaxBufferedRecords(1<<16))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	done := make(chan struct{})
	onAck := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
		if acked.Add(1) == int64(records) {
			close(done)
		}
	}
	var start time.Time
	for consumed := 0; consumed < records; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("ceiling: consumed %d of %d records before the deadline", consumed, records)
		}
		if start.IsZero() {
			start = time.Now()
		}
		fs.EachRecord(func(r *kgo.Record) {
			consumed++
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, onAck)
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		tb.Fatalf("ceiling: %d of %d records acknowledged before the deadline", acked.Load(), records)
	}
	took := time.Since(start)
	if err := failed.Load(); err != nil {
		tb.Fatalf("ceiling: produce: %v", *err)
	}
	return took
}

// BenchmarkCeiling measures a raw franz-go consume->produce pipe on the same
// brokers as the other benchmarks: 1,000,000 records of 100 bytes on 8
// partitions, in msgs/s, the median over the rounds. It is what the broker
// and the machine allow; the other figures are also read as a share of it.
func BenchmarkCeiling(b *testing.B) {
	vs := benchVariants(b, rawImpl)
	res := interleave(b, vs, func(v variant, round int) countResult {
		took := runCeiling(b, v.env.addrs, fmt.Sprintf("ceiling-%d", round), ceilingRecords)
		return countResult{records: ceilingRecords, took: took}
	})
	reportRates(b, vs, res, countResult.rate, "msgs/s")
}
