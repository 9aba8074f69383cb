package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/proctest"
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

// exactlyOncePartitions are the partition counts BenchmarkExactlyOnce
// compares: a transactional producer per partition (EOS-v1) would grow with
// them; one per agent instance (KIP-447) does not.
var exactlyOncePartitions = []int{8, 256}

// BenchmarkExactlyOnce measures what exactly-once mode costs: the counting
// agent of BenchmarkProcessorCount (300,000 pre-produced records, 1,000
// keys) run by topology.Run in each mode, on 8 and on 256 partitions. Unit:
// msgs/s, from the first record processed until every record's state is in
// Kafka for good (see runCount), cpu_us/msg, broker_cpu_us/msg (Apache
// Kafka's JVM, 0 on the embedded broker, whose CPU is in cpu_us/msg: see
// countResult), and txn_producers, the
// transactional ids the agent used; each row adds its ratio to the other
// mode's row of the same broker and partitions.
func BenchmarkExactlyOnce(b *testing.B) {
	all := benchVariants(b, "sluice")
	for _, parts := range exactlyOncePartitions {
		suffix := fmt.Sprintf("/partitions=%d", parts)
		vs := selected(all, suffix)
		res := interleave(b, vs, func(v variant, round int) countResult {
			return runCountOn(b, v, fmt.Sprintf("eo-%s-%s-%d-%d", v.env.name, v.mode, parts, round), countRecords, parts)
		})
		for _, v := range vs {
			m := []metric{
				{median(each(res[v], countResult.rate)), "msgs/s"},
				{median(each(res[v], countResult.cpuPerMsg)), "cpu_us/msg"},
				{median(each(res[v], countResult.brokerCPUPerMsg)), "broker_cpu_us/msg"},
				{median(each(res[v], countResult.producerCount)), "txn_producers"},
			}
			for _, o := range vs {
				if o != v && o.env == v.env {
					m = append(m, metric{median(ratios(res[v], res[o], countResult.rate)), vsUnit(o.impl, o.mode)})
				}
			}
			report(b, v.name()+suffix, m...)
		}
	}
}

// TestExactlyOnceBenchmarkShort runs BenchmarkExactlyOnce's workload small in
// both modes, so that it never rots; it checks no speed.
func TestExactlyOnceBenchmarkShort(t *testing.T) {
	proctest.NonRacePass(t, "the workloads measure a build without the race detector; the runtime they drive runs under it in the other packages' tests")
	e := &env{name: "embedded", addrs: startBroker(t).Addrs()}
	for _, mode := range Modes {
		t.Run("mode="+mode, func(t *testing.T) {
			v := variant{env: e, impl: "sluice", mode: mode}
			res := runCount(t, v, "short-eo-"+mode, 2000)
			if res.took <= 0 {
				t.Fatalf("counting 2000 records took %v, want > 0", res.took)
			}
			if res.brokerCPU != 0 {
				t.Fatalf("broker CPU %v on the embedded broker, want 0: it is in the process's own", res.brokerCPU)
			}
		})
	}
}
