package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/topology"
)

// Modes are the processing modes BenchmarkExactlyOnce compares.
var Modes = []string{"at-least-once", "exactly-once"}

// runCountMode is runCount's sluice workload (the same counting agent) in
// mode. The time runs from the first record processed until every record's
// state is in Kafka for good: at-least-once, until the last changelog write
// was acknowledged (as runCount); exactly-once, until the group's committed
// offsets cover every record, which the transactions that hold their
// changelog writes commit.
func runCountMode(tb testing.TB, addrs []string, mode, name string, records int) countResult {
	tb.Helper()
	in, group := name+"-in", name
	createTopics(tb, addrs, false, in)
	ks := keys("key", countKeys)
	produce(tb, addrs, in, records, func(i int) ([]byte, []byte) { return ks[i%len(ks)], value(i) })

	p := newProgress(records)
	g := countingGraph(name, in, group, p)
	var opts []topology.Option
	if mode == "exactly-once" {
		opts = append(opts, topology.ExactlyOnce())
	}
	r := startSluice(tb, addrs, g, opts...)
	p.wait(tb, 5*time.Minute)
	if mode == "exactly-once" {
		waitCommittedOffsets(tb, addrs, group, in, int64(records), time.Minute)
	} else {
		waitEndOffsets(tb, addrs, group+"-table", int64(records), time.Minute)
	}
	took := time.Since(time.Unix(0, p.first.Load()))
	r.stop(tb)
	deleteTopics(tb, addrs, in, group+"-table")
	return countResult{records: records, took: took}
}

// waitCommittedOffsets polls group's committed offsets of topic every 2 ms
// until they sum to n.
func waitCommittedOffsets(tb testing.TB, addrs []string, group, topic string, n int64, timeout time.Duration) {
	tb.Helper()
	cl := newKgo(tb, addrs)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var got int64
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic {
					got += o.At
				}
			})
			if got >= n {
				return
			}
		}
		if ctx.Err() != nil {
			tb.Fatalf("group %q committed %d records of %q after %v, want %d (last error %v)", group, got, topic, timeout, n, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkExactlyOnce measures what exactly-once mode costs: the counting
// agent of BenchmarkProcessorCount (300,000 pre-produced records, 1,000 keys,
// 8 partitions) run by topology.Run in each mode. Unit: msgs/s, from the
// first record processed until every record's state is in Kafka for good
// (see runCountMode).
func BenchmarkExactlyOnce(b *testing.B) {
	addrs := startBroker(b).Addrs()
	for _, mode := range Modes {
		b.Run("mode="+mode, func(b *testing.B) {
			var n int
			var took time.Duration
			i := 0
			for b.Loop() {
				res := runCountMode(b, addrs, mode, fmt.Sprintf("eo-%s-%d", mode, i), countRecords)
				n += res.records
				took += res.took
				i++
			}
			b.ReportMetric(perSecond(n, took), "msgs/s")
		})
	}
}

// TestExactlyOnceBenchmarkShort runs BenchmarkExactlyOnce's workload small in
// both modes, so that it never rots; it checks no speed.
func TestExactlyOnceBenchmarkShort(t *testing.T) {
	addrs := startBroker(t).Addrs()
	for _, mode := range Modes {
		t.Run("mode="+mode, func(t *testing.T) {
			if res := runCountMode(t, addrs, mode, "short-eo-"+mode, 2000); res.took <= 0 {
				t.Fatalf("counting 2000 records took %v, want > 0", res.took)
			}
		})
	}
}
