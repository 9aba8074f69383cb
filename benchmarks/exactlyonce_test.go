package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

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
// (see runCount); the exactly-once row adds its ratio to at-least-once.
func BenchmarkExactlyOnce(b *testing.B) {
	vs := benchVariants(b, "sluice")
	res := interleave(b, vs, func(v variant, round int) countResult {
		return runCount(b, v, fmt.Sprintf("eo-%s-%s-%d", v.env.name, v.mode, round), countRecords)
	})
	reportRates(b, vs, res, countResult.rate, "msgs/s", metricOf(countResult.cpuPerMsg, "cpu_us/msg"))
}

// TestExactlyOnceBenchmarkShort runs BenchmarkExactlyOnce's workload small in
// both modes, so that it never rots; it checks no speed.
func TestExactlyOnceBenchmarkShort(t *testing.T) {
	e := &env{name: "embedded", addrs: startBroker(t).Addrs()}
	for _, mode := range Modes {
		t.Run("mode="+mode, func(t *testing.T) {
			v := variant{env: e, impl: "sluice", mode: mode}
			if res := runCount(t, v, "short-eo-"+mode, 2000); res.took <= 0 {
				t.Fatalf("counting 2000 records took %v, want > 0", res.took)
			}
		})
	}
}
