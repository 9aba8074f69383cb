package benchmarks

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
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
	replay   time.Duration // from the first fetch of the changelog until that record was processed
	peakHeap uint64
	peakRSS  uint64
	baseHeap uint64 // heap before the start, the changelog already in the broker
}

// runRecovery writes a changelog of records records over keys keys (8
// partitions, values as the Int64 codecs of both write them) directly to the
// table topic of a fresh counting agent of impl, and one record to its input.
// It then starts the agent on an empty data dir and measures the restart: from
// the start until that input record is processed, which needs the whole table
// restored first. The replay runs from the broker's first fetch of the
// changelog, seen through a kfake control hook.
func runRecovery(tb testing.TB, b *broker.Broker, impl, name string, records, keyCount int) recoveryResult {
	tb.Helper()
	addrs := b.Addrs()
	in, group := name+"-in", name
	table := group + "-table"
	createTopics(tb, addrs, false, in)
	createTopics(tb, addrs, true, table)
	ks := keys("user", keyCount)
	produce(tb, addrs, table, records, func(i int) ([]byte, []byte) {
		return ks[i%len(ks)], strconv.AppendInt(nil, int64(i/len(ks)+1), 10)
	})
	produce(tb, addrs, in, 1, func(int) ([]byte, []byte) { return []byte("probe"), value100 })

	firstFetch := watchFetch(b.Cluster(), table)
	defer firstFetch.stop.Store(true)

	p := newProgress(1)
	var r *runner
	forceGC()
	base := HeapBytes()
	mem := StartMemorySampler(10 * time.Millisecond)
	t0 := time.Now()
	switch impl {
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
		r = startSluice(tb, addrs, g)
	case "goka":
		gg := goka.DefineGroup(goka.Group(group),
			goka.Input(goka.Stream(in), new(codec.Bytes), func(goka.Context, any) { p.mark() }),
			goka.Persist(new(codec.Int64)),
		)
		r = startGoka(tb, addrs, gg)
	default:
		tb.Fatalf("unknown impl %q", impl)
	}
	p.wait(tb, 5*time.Minute)
	ready := time.Unix(0, p.last.Load())
	peakHeap, peakRSS := mem.Stop()
	r.stop(tb)
	deleteTopics(tb, addrs, in, table)
	ff := firstFetch.at.Load()
	if ff == 0 {
		tb.Fatalf("no fetch of %q seen", table)
	}
	return recoveryResult{
		records:  records,
		restart:  ready.Sub(t0),
		replay:   ready.Sub(time.Unix(0, ff)),
		peakHeap: peakHeap,
		peakRSS:  peakRSS,
		baseHeap: base,
	}
}

// fetchWatch is when the broker first served a fetch of a topic.
type fetchWatch struct {
	at   atomic.Int64 // unix ns, 0 until then
	stop atomic.Bool  // set to remove the hook at the next fetch
}

// watchFetch observes fetch requests until one names topic, and records when.
// The hook only observes: the broker handles every request as usual.
func watchFetch(c *kfake.Cluster, topic string) *fetchWatch {
	w := new(fetchWatch)
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if w.stop.Load() {
			c.DropControl()
			return nil, nil, false
		}
		for _, t := range req.(*kmsg.FetchRequest).Topics {
			if t.Topic == topic {
				w.at.Store(time.Now().UnixNano())
				c.DropControl()
				break
			}
		}
		return nil, nil, false
	})
	return w
}

// BenchmarkRecovery measures the restore of a table from a changelog of
// 1,000,000 records over 100,000 keys on 8 partitions, into an empty data dir:
// records/s over the replay (first changelog fetch until the first input
// record is processed), restart_ms from the start of the processor to the
// same point, and the process's peak heap and RSS meanwhile (the embedded
// broker's copy of the changelog included; base_heap_MB is the heap before the
// start).
func BenchmarkRecovery(b *testing.B) {
	br := startBroker(b)
	for _, impl := range Impls {
		b.Run("impl="+impl, func(b *testing.B) {
			var res []recoveryResult
			i := 0
			for b.Loop() {
				res = append(res, runRecovery(b, br, impl, fmt.Sprintf("recover-%s-%d", impl, i), recoveryRecords, recoveryKeys))
				i++
			}
			var n int
			var replay, restart time.Duration
			var heap, rss, base uint64
			for _, r := range res {
				n += r.records
				replay += r.replay
				restart += r.restart
				heap, rss, base = max(heap, r.peakHeap), max(rss, r.peakRSS), max(base, r.baseHeap)
			}
			b.ReportMetric(perSecond(n, replay), "records/s")
			b.ReportMetric(ms(restart)/float64(len(res)), "restart_ms")
			b.ReportMetric(float64(heap)/(1<<20), "peak_heap_MB")
			b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MB")
			b.ReportMetric(float64(base)/(1<<20), "base_heap_MB")
		})
	}
}
