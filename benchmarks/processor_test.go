package benchmarks

import (
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

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
	took    time.Duration // from the first record processed until every state write was acknowledged
}

// runCount pre-produces records records (countKeys keys, 100-byte values) to a
// fresh 8-partition topic, starts a counting agent of impl on it, and waits
// until every record was processed and its changelog write acknowledged. The
// time runs from the first record processed, so group join and table setup are
// not measured.
func runCount(tb testing.TB, addrs []string, impl, name string, records int) countResult {
	tb.Helper()
	in, group := name+"-in", name
	createTopics(tb, addrs, false, in)
	ks := keys("key", countKeys)
	produce(tb, addrs, in, records, func(i int) ([]byte, []byte) { return ks[i%len(ks)], value(i) })

	p := newProgress(records)
	var r *runner
	switch impl {
	case "sluice":
		g := countingGraph(name, in, group, p)
		r = startSluice(tb, addrs, g)
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
		r = startGoka(tb, addrs, gg)
	default:
		tb.Fatalf("unknown impl %q", impl)
	}
	p.wait(tb, 5*time.Minute)
	waitEndOffsets(tb, addrs, group+"-table", int64(records), time.Minute)
	took := time.Since(time.Unix(0, p.first.Load()))
	r.stop(tb)
	deleteTopics(tb, addrs, in, group+"-table")
	return countResult{records: records, took: took}
}

// BenchmarkProcessorCount measures a counting agent end to end: 300,000
// pre-produced records over 1,000 keys with 100-byte values on 8 partitions,
// each read, counted in the table (Get, Set, changelog write) and committed.
// impl=sluice is topology.Run with its defaults (Pebble tables, sluice's
// sarama config); impl=goka a goka processor with goka's DefaultConfig
// (except reading from the oldest offset) and LevelDB storage. Unit: msgs/s,
// from the first record processed until the last changelog write was
// acknowledged.
func BenchmarkProcessorCount(b *testing.B) {
	addrs := startBroker(b).Addrs()
	for _, impl := range Impls {
		b.Run("impl="+impl, func(b *testing.B) {
			var n int
			var took time.Duration
			i := 0
			for b.Loop() {
				res := runCount(b, addrs, impl, fmt.Sprintf("count-%s-%d", impl, i), countRecords)
				n += res.records
				took += res.took
				i++
			}
			b.ReportMetric(perSecond(n, took), "msgs/s")
		})
	}
}

// countingGraph is the counting agent of BenchmarkProcessorCount and
// BenchmarkExactlyOnce: group counts the records of topic in per key in its
// table, and marks each on p.
func countingGraph(name, in, group string, p *progress) *topology.Graph {
	return countingGraphOn(name, in, group, partitions, p)
}

// countingGraphOn is countingGraph with parts partitions.
func countingGraphOn(name, in, group string, parts int32, p *progress) *topology.Graph {
	stream := topology.Stream[[]byte]{Name: in, Codec: topology.Bytes(), Partitions: parts}
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
	return &topology.Graph{Name: name, Sources: []topology.Topic{stream}, Agents: []topology.AgentDecl{agent}, Partitions: parts}
}
