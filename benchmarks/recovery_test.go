package benchmarks

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/sluicehq/sluice/topology"
)

// recoveryRecords and recoveryKeys size the changelog a recovery restores.
const (
	recoveryRecords = 1_000_000
	recoveryKeys    = 100_000
)

// recoveryResult is one restore of a table.
type recoveryResult struct {
	records  int
	restart  time.Duration // from the start of the processor until it processed its first input record
	replay   time.Duration // from the assignment of its partitions until that record was processed
	peakHeap uint64        // 0 for kstreams, another process
	peakRSS  uint64
	baseHeap uint64 // heap before the start, the changelog already in the broker
}

// rate returns the run's records/s over the replay.
func (r recoveryResult) rate() float64 { return perSecond(r.records, r.replay) }

// runRecovery writes a changelog of records records over keys keys (8
// partitions, values as each impl's Int64 codec writes them) directly to the
// table topic of a fresh counting agent of v, and one record to its input.
// It then starts the agent on an empty data dir and measures the restart:
// from the start until that input record is processed, which needs the whole
// table restored first. The replay runs from the moment the agent's group
// assigned it its partitions (sluice's OnAssign, goka's rebalance callback;
// Kafka Streams' first restore-start, which follows its assignment), so that
// it measures restoring, not joining.
func runRecovery(tb testing.TB, v variant, name string, records, keyCount int) recoveryResult {
	tb.Helper()
	addrs := v.env.addrs
	in, group := name+"-in", name
	table := group + "-table"
	encode := func(n int64) []byte { return strconv.AppendInt(nil, n, 10) } // goka's and sluice's Int64
	if v.impl == kstreamsImpl {
		table = group + "-counts-changelog"
		encode = func(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) } // Serdes.Long
	}
	createTopics(tb, addrs, false, in)
	createTopics(tb, addrs, true, table)
	ks := keys("user", keyCount)
	produce(tb, addrs, table, records, func(i int) ([]byte, []byte) {
		return ks[i%len(ks)], encode(int64(i/len(ks) + 1))
	})
	produce(tb, addrs, in, 1, func(int) ([]byte, []byte) { return []byte("probe"), value100 })
	defer deleteTopics(tb, addrs, in, table)

	var assigned atomic.Int64 // unix ns of the first assignment
	onAssign := func() { assigned.CompareAndSwap(0, time.Now().UnixNano()) }
	if v.impl == kstreamsImpl {
		a := startKStreams(tb, addrs, "count", v.mode, group, "in="+in, "expect=1")
		first := a.await(tb, "first", 5*time.Minute)
		restore, ok := a.event("restore-start")
		if !ok {
			tb.Fatalf("kstreams processed its input before restoring its table")
		}
		rss := vmHWM(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
		a.stop(tb)
		return recoveryResult{records: records, restart: first.Sub(a.start), replay: first.Sub(restore), peakRSS: rss}
	}

	p := newProgress(1)
	var r *runner
	forceGC()
	base := HeapBytes()
	mem := StartMemorySampler(10 * time.Millisecond)
	t0 := time.Now()
	switch v.impl {
	case "sluice":
		stream := topology.Stream[[]byte]{Name: in, Codec: topology.Bytes(), Partitions: partitions}
		agent := topology.Agent[int64]{
			Name:  group,
			State: topology.Int64(),
			Inputs: []topology.Input[int64]{topology.Consume(stream, func(c *topology.Context[int64], _ string, _ []byte) error {
				p.mark()
				return nil
			})},
		}
		g := &topology.Graph{Name: name, Sources: []topology.Topic{stream}, Agents: []topology.AgentDecl{agent}, Partitions: partitions}
		opts := []topology.Option{topology.OnAssign(func(string, []int32) { onAssign() })}
		if v.mode == exactlyOnce {
			opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
		}
		r = startSluice(tb, addrs, g, opts...)
	case "goka":
		gg := goka.DefineGroup(goka.Group(group),
			goka.Input(goka.Stream(in), new(codec.Bytes), func(goka.Context, any) { p.mark() }),
			goka.Persist(new(codec.Int64)),
		)
		r = startGoka(tb, addrs, gg, goka.WithRebalanceCallback(func(goka.Assignment) { onAssign() }))
	default:
		tb.Fatalf("unknown impl %q", v.impl)
	}
	p.wait(tb, r, 5*time.Minute)
	ready := time.Unix(0, p.last.Load())
	peakHeap, peakRSS := mem.Stop()
	r.stop(tb)
	if assigned.Load() == 0 {
		tb.Fatalf("%s processed its input without an assignment", v.impl)
	}
	return recoveryResult{
		records:  records,
		restart:  ready.Sub(t0),
		replay:   ready.Sub(time.Unix(0, assigned.Load())),
		peakHeap: peakHeap,
		peakRSS:  peakRSS,
		baseHeap: base,
	}
}

// BenchmarkRecovery measures the restore of a table from a changelog of
// 1,000,000 records over 100,000 keys on 8 partitions, into an empty data dir:
// records/s over the replay (assignment until the first input record is
// processed), restart_ms from the start of the processor (for kstreams, of
// its JVM) to the same point, and the peak heap and RSS meanwhile: of this
// process for sluice and goka (with the embedded broker's copy of the
// changelog on broker=embedded; base_heap_MB is the heap before the start),
// of the JVM for kstreams. Medians over the rounds, peaks the highest;
// sluice's rows add their records/s ratio to every other row of the broker
// and restart_x_IMPL_MODE, the ratio of restart times.
func BenchmarkRecovery(b *testing.B) {
	vs := benchVariants(b, "sluice", "goka", kstreamsImpl)
	res := interleave(b, vs, func(v variant, round int) recoveryResult {
		return runRecovery(b, v, fmt.Sprintf("recover-%s-%s-%d", v.impl, v.mode, round), recoveryRecords, recoveryKeys)
	})
	restart := func(r recoveryResult) float64 { return ms(r.restart) }
	for _, v := range vs {
		var heap, rss, base uint64
		for _, r := range res[v] {
			heap, rss, base = max(heap, r.peakHeap), max(rss, r.peakRSS), max(base, r.baseHeap)
		}
		m := []metric{
			{median(each(res[v], recoveryResult.rate)), "records/s"},
			{median(each(res[v], restart)), "restart_ms"},
			{float64(rss) / (1 << 20), "peak_rss_MB"},
		}
		if v.impl != kstreamsImpl {
			m = append(m, metric{float64(heap) / (1 << 20), "peak_heap_MB"}, metric{float64(base) / (1 << 20), "base_heap_MB"})
		}
		if v.impl == "sluice" {
			for _, o := range vs {
				if o != v && o.env == v.env {
					m = append(m,
						metric{median(ratios(res[v], res[o], recoveryResult.rate)), vsUnit(o.impl, o.mode)},
						metric{median(ratios(res[v], res[o], restart)), "restart_" + vsUnit(o.impl, o.mode)})
				}
			}
		}
		report(b, v.name(), m...)
	}
}
