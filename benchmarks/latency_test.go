package benchmarks

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// hops is the number of agents a record passes in the latency pipeline.
const hops = 4

// latencyResult is the end-to-end latency of the records of one run.
type latencyResult struct {
	samples       int
	p50, p99, max time.Duration
	// cpuPerHop is the CPU time (user + system) of the whole process while the
	// records were measured, divided by records x hops. It includes the
	// embedded broker and the benchmark's own franz-go clients, which are the
	// same for every impl, and it stays meaningful on a loaded machine, where
	// the latencies do not. It also falls when records queue up and share
	// requests, so compare it between runs of similar latency.
	cpuPerHop time.Duration
}

// cpuTime returns the CPU time (user + system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runLatency builds a pipeline of 4 stateless pass-through agents of v
// (topic 0 -> agent 1 -> topic 1 -> ... -> topic 4, 8 partitions each), waits
// until it carries records end to end and has run for [latencyWarmUp] at
// rate, then writes records at rate per second for dur with a franz-go producer that sends at once, and measures each
// record's latency at a franz-go consumer of the last topic: now minus the
// send time the producer put in the value. In exactly-once mode that
// consumer reads committed records only, so a record's latency includes the
// transactions' commits on its way.
func runLatency(tb testing.TB, v variant, name string, rate int, dur time.Duration) latencyResult {
	tb.Helper()
	addrs, impl := v.env.addrs, v.impl
	topics := make([]string, hops+1)
	for i := range topics {
		topics[i] = fmt.Sprintf("%s-t%d", name, i)
	}
	createTopics(tb, addrs, false, topics...)
	var runners []*runner
	var app *ksApp // kstreams: the application, a process of its own
	switch impl {
	case "sluice":
		streams := make([]topology.Stream[[]byte], hops+1)
		for i := range streams {
			streams[i] = topology.Stream[[]byte]{Name: topics[i], Codec: topology.Bytes(), Partitions: partitions}
		}
		g := &topology.Graph{Name: name, Sources: []topology.Topic{streams[0]}, Sinks: []topology.Topic{streams[hops]}, Partitions: partitions}
		for h := 1; h <= hops; h++ {
			out := streams[h]
			g.Agents = append(g.Agents, topology.Agent[struct{}]{
				Name: fmt.Sprintf("%s-hop%d", name, h),
				Inputs: []topology.Input[struct{}]{topology.Consume(streams[h-1], func(c *topology.Context[struct{}], key string, v []byte) error {
					return topology.Emit(c, out, key, v)
				})},
				Outputs: []topology.Topic{out},
			})
		}
		var opts []topology.Option
		if v.mode == exactlyOnce {
			opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
		}
		runners = append(runners, startSluice(tb, addrs, g, opts...))
	case "goka":
		for h := 1; h <= hops; h++ {
			out := goka.Stream(topics[h])
			gg := goka.DefineGroup(goka.Group(fmt.Sprintf("%s-hop%d", name, h)),
				goka.Input(goka.Stream(topics[h-1]), new(codec.Bytes), func(ctx goka.Context, v any) {
					ctx.Emit(out, ctx.Key(), v)
				}),
				goka.Output(out, new(codec.Bytes)),
			)
			runners = append(runners, startGoka(tb, addrs, gg))
		}
	case rawImpl:
		for h := 1; h <= hops; h++ {
			runners = append(runners, startRawHop(tb, addrs, fmt.Sprintf("%s-hop%d", name, h), topics[h-1], topics[h]))
		}
	case kstreamsImpl:
		app = startKStreams(tb, addrs, "pipe", v.mode, name, "topics="+strings.Join(topics, ","))
	default:
		tb.Fatalf("unknown impl %q", impl)
	}
	defer func() {
		for _, r := range runners {
			r.stop(tb)
		}
		if app != nil {
			app.stop(tb)
		}
		deleteTopics(tb, addrs, topics...)
	}()
	// cpu is the CPU time of this process and, for kstreams, the JVM's.
	cpu := func() time.Duration {
		d := cpuTime(tb)
		if app != nil {
			d += procCPU(tb, app.cmd.Process.Pid)
		}
		return d
	}

	prod := newKgo(tb, addrs, kgo.DefaultProduceTopic(topics[0]), kgo.ProducerLinger(0))
	defer prod.Close()
	isolation := kgo.ReadUncommitted()
	if v.mode == exactlyOnce {
		isolation = kgo.ReadCommitted()
	}
	cons := newKgo(tb, addrs, kgo.ConsumeTopics(topics[hops]), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second), kgo.FetchIsolationLevel(isolation))
	defer cons.Close()

	// Warm up: every agent has joined its group and every partition of every
	// hop carries records once 64 keys (spread over all partitions by either
	// hasher) arrive at the end.
	const warmKeys = 64
	send := func(key []byte, seq uint64) {
		v := make([]byte, len(value100))
		copy(v, value100)
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(v[8:], seq)
		prod.Produce(context.Background(), &kgo.Record{Key: key, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				tb.Errorf("produce: %v", err)
			}
		})
	}
	ks := keys("k", 1000)
	const warm = 1 << 62 // seq bit marking warm-up records
	// paced sends n records at rate, record i due at the start + i/rate,
	// their sequence numbers or'ed with flag.
	paced := func(n int, flag uint64) {
		start := time.Now()
		for i := range n {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			send(ks[i%len(ks)], flag|uint64(i))
		}
	}
	for i := range warmKeys {
		send(ks[i], warm|uint64(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	await := func(n int) {
		for seen := 0; seen < n; {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				tb.Fatalf("warm-up: %d of %d records through %d hops before the deadline", seen, n, hops)
			}
			seen += fs.NumRecords()
		}
	}
	await(warmKeys)
	// Then a second at the measured rate, so that every implementation's
	// code paths, JIT-compiled ones included, are warm.
	go paced(rate*int(latencyWarmUp/time.Second), warm)
	await(rate * int(latencyWarmUp/time.Second))

	// Measure: records at rate.
	n := int(float64(rate) * dur.Seconds())
	lat := make([]time.Duration, 0, n)
	cpu0 := cpu()
	go paced(n, 0)
	for len(lat) < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("%d of %d records through %d hops before the deadline", len(lat), n, hops)
		}
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			if binary.BigEndian.Uint64(r.Value[8:])&warm != 0 {
				return
			}
			lat = append(lat, now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))))
		})
	}
	used := cpu() - cpu0
	slices.Sort(lat)
	return latencyResult{
		samples:   len(lat),
		p50:       lat[len(lat)/2],
		p99:       lat[len(lat)*99/100],
		max:       lat[len(lat)-1],
		cpuPerHop: used / time.Duration(n*hops),
	}
}

// rawImpl is the third impl of BenchmarkPipelineLatency: each hop a bare
// franz-go client, the latency floor of any Kafka client on this broker and
// machine (see [startRawHop]).
const rawImpl = "franz-go"

// startRawHop runs one hop of the latency floor: a franz-go client in
// consumer group group that reads in, writes each record to out as it comes,
// and commits every second. It is what an agent does with no framework, no
// per-record bookkeeping and no offset order to keep, with the settings that
// matter for latency as sluice sets them: no linger, fetches that wait at
// most 10 ms, acks=all.
func startRawHop(tb testing.TB, addrs []string, group, in, out string) *runner {
	tb.Helper()
	cl := newKgo(tb, addrs, kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond),
		kgo.DefaultProduceTopic(out), kgo.ProducerLinger(0), kgo.AutoCommitInterval(time.Second))
	return start(tb, func(ctx context.Context) error {
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err := fs.Err0(); err != nil {
				return fmt.Errorf("raw hop %s: %w", group, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						tb.Errorf("raw hop %s: produce: %v", group, err)
					}
				})
			})
		}
	})
}

// latencyRates are the input rates of BenchmarkPipelineLatency, in records per
// second, and latencyDuration how long each run sends.
var latencyRates = []int{2000, 20000}

const latencyDuration = 3 * time.Second

// latencyWarmUp is how long each run sends at the measured rate before it
// measures.
const latencyWarmUp = time.Second

// BenchmarkPipelineLatency measures end-to-end latency through 4 pass-through
// agents at a steady input rate: p50_ms, p99_ms and max_ms of the records sent
// during 3 s, from the producer's send to the consumer of the last topic; and
// cpu_us/hop, the CPU time per record and hop (see latencyResult; for
// kstreams its JVM's included). Beside sluice (both modes), goka and Kafka
// Streams (both modes, real broker only) it runs impl=franz-go, the same
// pipeline of bare franz-go clients: the floor (see [startRawHop]). Figures
// are medians over the rounds; sluice's rows add p99_x_IMPL_MODE, the median
// of the rounds' ratios of its p99 to every other row's of the same broker
// and rate (p99_x_franz_go_at_least_once is the distance to the floor).
func BenchmarkPipelineLatency(b *testing.B) {
	all := benchVariants(b, "sluice", "goka", rawImpl, kstreamsImpl)
	for _, rate := range latencyRates {
		vs := selected(all, fmt.Sprintf("/rate=%d", rate))
		res := interleave(b, vs, func(v variant, round int) latencyResult {
			return runLatency(b, v, fmt.Sprintf("lat-%s-%s-%s-%d-%d", v.env.name, v.impl, v.mode, rate, round), rate, latencyDuration)
		})
		p99 := func(r latencyResult) float64 { return ms(r.p99) }
		for _, v := range vs {
			m := []metric{
				{median(each(res[v], func(r latencyResult) float64 { return ms(r.p50) })), "p50_ms"},
				{median(each(res[v], p99)), "p99_ms"},
				{median(each(res[v], func(r latencyResult) float64 { return ms(r.max) })), "max_ms"},
				{median(each(res[v], func(r latencyResult) float64 { return float64(r.cpuPerHop) / float64(time.Microsecond) })), "cpu_us/hop"},
			}
			if v.impl == "sluice" {
				for _, o := range vs {
					if o != v && o.env == v.env {
						m = append(m, metric{median(ratios(res[v], res[o], p99)), "p99_" + vsUnit(o.impl, o.mode)})
					}
				}
			}
			report(b, fmt.Sprintf("%s/rate=%d", v.name(), rate), m...)
		}
	}
}
