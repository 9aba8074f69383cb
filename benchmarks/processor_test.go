package benchmarks

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/topology"
)

// countKeys and countRecords size the counting workload; countRecords is per
// run, pre-produced before the processor starts.
const (
	countKeys    = 1000
	countRecords = 300_000
)

// countResult is one run of the counting workload.
type countResult struct {
	records int
	took    time.Duration // from the first record processed until every record's state was in Kafka
	// cpu is the CPU time this process (the embedded broker included) and,
	// for kstreams, the JVM used from the processor's start until then:
	// unlike msgs/s, it barely moves with the machine's load.
	cpu time.Duration
	// producers is the number of transactional producers (ids) the agent
	// used; 0 at-least-once.
	producers int
	// brokerCPU is the CPU time Apache Kafka's JVMs used over the same span
	// as cpu (on the embedded broker it is in cpu, and this is 0): what the
	// broker spends on a mode's writes, commits and transactions.
	brokerCPU time.Duration
}

// brokerCPUPerMsg returns the broker's CPU microseconds per record (0 on the
// embedded broker, whose CPU time is in cpuPerMsg).
func (r countResult) brokerCPUPerMsg() float64 {
	return float64(r.brokerCPU) / float64(time.Microsecond) / float64(r.records)
}

// brokerCPU returns the CPU time the JVMs of e's Apache Kafka used so far, 0
// on the embedded broker.
func brokerCPU(tb testing.TB, e *env) time.Duration {
	tb.Helper()
	if e.kafka == nil {
		return 0
	}
	var d time.Duration
	for _, n := range e.kafka.Nodes() {
		if pid := n.Pid(); pid > 0 {
			d += procCPU(tb, pid)
		}
	}
	return d
}

// producerCount returns the run's transactional producers.
func (r countResult) producerCount() float64 { return float64(r.producers) }

// cpuPerMsg returns the run's CPU microseconds per record.
func (r countResult) cpuPerMsg() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.records)
}

// rate returns the run's msgs/s.
func (r countResult) rate() float64 { return perSecond(r.records, r.took) }

// runCount pre-produces records records (countKeys keys, 100-byte values) to a
// fresh 8-partition topic, starts a counting agent of v on it, and waits
// until every record was processed and its state is in Kafka for good. The
// time runs from the first record processed, so group join and table setup
// are not measured. It ends:
//   - sluice at-least-once and goka: when the changelog holds a write of
//     every record (each is acknowledged before its offset is committed);
//   - sluice exactly-once and kstreams: when the group's committed offsets
//     cover every record (the commit that covers a record's offset holds, or
//     follows, its changelog write). Kafka Streams keeps a cache of the
//     table in front of the changelog and writes it at each commit, so its
//     changelog never holds a write per record; at the last record it asks
//     for a commit at once (see kstreams/Bench.java).
func runCount(tb testing.TB, v variant, name string, records int) countResult {
	tb.Helper()
	return runCountOn(tb, v, name, records, partitions)
}

// runCountOn is runCount on parts partitions. sluice's state is removed
// after the run (one Pebble store per partition, which preallocates its
// write-ahead log: 256 partitions hold gigabytes).
func runCountOn(tb testing.TB, v variant, name string, records, parts int) countResult {
	tb.Helper()
	addrs := v.env.addrs
	in, group := name+"-in", name
	createTopicsN(tb, addrs, parts, false, in)
	ks := keys("key", countKeys)
	produce(tb, addrs, in, records, func(i int) ([]byte, []byte) { return ks[i%len(ks)], value(i) })

	p := newProgress(records)
	var r *runner
	var first time.Time
	cpu0, bcpu0 := cpuTime(tb), brokerCPU(tb, v.env)
	switch v.impl {
	case "sluice":
		dir, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			tb.Fatal(err)
		}
		defer os.RemoveAll(dir)
		opts := []topology.Option{topology.DataDir(dir)}
		if v.mode == exactlyOnce {
			opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
		}
		r = startSluice(tb, addrs, countingGraph(name, in, group, p, parts), opts...)
		p.wait(tb, r, 5*time.Minute)
		first = time.Unix(0, p.first.Load())
		if v.mode == exactlyOnce {
			waitCommittedOffsets(tb, addrs, group, in, int64(records), time.Minute)
		} else {
			waitEndOffsets(tb, addrs, group+"-table", int64(records), time.Minute)
		}
	case "goka":
		gg := goka.DefineGroup(goka.Group(group),
			goka.Input(goka.Stream(in), new(codec.Bytes), func(ctx goka.Context, _ any) {
				var n int64
				if v := ctx.Value(); v != nil {
					n = v.(int64)
				}
				ctx.SetValue(n + 1)
				p.mark()
			}),
			goka.Persist(new(codec.Int64)),
		)
		// goka creates its table itself and at once asks for its oldest
		// offsets, which a just-created partition of Apache Kafka may refuse
		// (NOT_LEADER_OR_FOLLOWER): goka's processor then fails for good. The
		// table is made ready first, as createTopics waits for its leaders.
		createTopics(tb, addrs, true, group+"-table")
		r = startGoka(tb, addrs, gg)
		p.wait(tb, r, 5*time.Minute)
		first = time.Unix(0, p.first.Load())
		waitEndOffsets(tb, addrs, group+"-table", int64(records), time.Minute)
	case kstreamsImpl:
		a := startKStreams(tb, addrs, "count", v.mode, group, "in="+in, "expect="+strconv.Itoa(records))
		a.await(tb, "done", 5*time.Minute)
		first, _ = a.event("first")
		waitCommittedOffsets(tb, addrs, group, in, int64(records), time.Minute)
		took := time.Since(first)
		cpu := cpuTime(tb) - cpu0 + procCPU(tb, a.cmd.Process.Pid)
		bcpu := brokerCPU(tb, v.env) - bcpu0
		a.stop(tb)
		deleteTopics(tb, addrs, in, group+"-counts-changelog")
		return countResult{records: records, took: took, cpu: cpu, brokerCPU: bcpu}
	default:
		tb.Fatalf("unknown impl %q", v.impl)
	}
	took := time.Since(first)
	cpu, bcpu := cpuTime(tb)-cpu0, brokerCPU(tb, v.env)-bcpu0
	r.stop(tb)
	res := countResult{records: records, took: took, cpu: cpu, brokerCPU: bcpu, producers: transactionalIDs(tb, addrs, "sluice-"+group+"-")}
	deleteTopics(tb, addrs, in, group+"-table")
	return res
}

// BenchmarkProcessorCount measures a counting agent end to end: 300,000
// pre-produced records over 1,000 keys with 100-byte values on 8 partitions,
// each read, counted in the table (Get, Set, changelog write) and committed.
// impl=sluice is topology.Run with its defaults (Pebble tables,
// topology.DefaultKafkaConfig), in both modes; impl=goka a goka processor with goka's
// DefaultConfig (except reading from the oldest offset) and LevelDB storage;
// impl=kstreams, on the real broker only, Kafka Streams with its defaults
// (RocksDB) except the commit interval, which is sluice's, in both modes.
// Unit: msgs/s, from the first record processed until every record's state
// is in Kafka (see runCount), the median over the rounds, and cpu_us/msg,
// the CPU time per record (see countResult); sluice's rows add
// its ratio to every other row of the same broker (x_IMPL_MODE, the median of
// the rounds' ratios).
func BenchmarkProcessorCount(b *testing.B) {
	vs := benchVariants(b, "sluice", "goka", kstreamsImpl)
	res := interleave(b, vs, func(v variant, round int) countResult {
		return runCount(b, v, fmt.Sprintf("count-%s-%s-%d", v.impl, v.mode, round), countRecords)
	})
	reportRates(b, vs, res, countResult.rate, "msgs/s", metricOf(countResult.cpuPerMsg, "cpu_us/msg"))
}

// metricOf is a further figure of each row: the median of f over the rounds.
type metricFn[R any] struct {
	f    func(R) float64
	unit string
}

func metricOf[R any](f func(R) float64, unit string) metricFn[R] { return metricFn[R]{f, unit} }

// reportRates reports each variant's median rate, and for sluice's rows the
// ratio to every other variant on the same broker.
func reportRates[R any](b *testing.B, vs []variant, res map[variant][]R, rate func(R) float64, unit string, more ...metricFn[R]) {
	b.Helper()
	for _, v := range vs {
		ms := []metric{{median(each(res[v], rate)), unit}}
		for _, m := range more {
			ms = append(ms, metric{median(each(res[v], m.f)), m.unit})
		}
		if v.impl == "sluice" {
			for _, o := range vs {
				if o != v && o.env == v.env {
					ms = append(ms, metric{median(ratios(res[v], res[o], rate)), vsUnit(o.impl, o.mode)})
				}
			}
		}
		report(b, v.name(), ms...)
	}
}

// countingGraph is the counting agent of BenchmarkProcessorCount and
// BenchmarkExactlyOnce: group counts the records of topic in per key in its
// table, and marks each on p.
func countingGraph(name, in, group string, p *progress, parts int) *topology.Graph {
	stream := topology.Stream[[]byte]{Name: in, Codec: topology.Bytes(), Partitions: int32(parts)}
	agent := topology.Agent[int64]{
		Name:  group,
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(stream, func(c *topology.Context[int64], _ string, _ []byte) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			if err := c.SetState(n + 1); err != nil {
				return err
			}
			p.mark()
			return nil
		})},
	}
	return &topology.Graph{Name: name, Sources: []topology.Topic{stream}, Agents: []topology.AgentDecl{agent}, Partitions: int32(parts)}
}

// transactionalIDs returns how many transactional ids beginning with
// prefix the broker knows.
func transactionalIDs(tb testing.TB, addrs []string, prefix string) int {
	tb.Helper()
	cl := newKgo(tb, addrs)
	defer cl.Close()
	txs, err := kadm.NewClient(cl).ListTransactions(context.Background(), nil, nil)
	if err != nil {
		tb.Fatalf("list transactions: %v", err)
	}
	n := 0
	for id := range txs {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}
