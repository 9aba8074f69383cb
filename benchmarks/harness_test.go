package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/topology"
)

// partitions is the partition count of every topic of the end-to-end workloads.
const partitions = 8

// startBroker starts the embedded broker the end-to-end benchmarks share: in
// memory (the broker is not what is measured, and its disk writes would add
// noise to both sides alike) and with compaction effectively off (every hour),
// so that a changelog written for a recovery keeps all its records.
func startBroker(tb testing.TB) *broker.Broker {
	tb.Helper()
	b, err := broker.Start(broker.CleanerInterval(time.Hour))
	if err != nil {
		tb.Fatalf("start broker: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("close broker: %v", err)
		}
	})
	return b
}

// createTopics creates topics with partitions partitions and replication 1;
// compact makes them compacted, as changelogs are.
func createTopics(tb testing.TB, addrs []string, compact bool, topics ...string) {
	tb.Helper()
	createTopicsN(tb, addrs, partitions, compact, topics...)
}

// createTopicsN creates topics with n partitions and replication 1.
func createTopicsN(tb testing.TB, addrs []string, n int, compact bool, topics ...string) {
	tb.Helper()
	cl := newKgo(tb, addrs)
	defer cl.Close()
	var cfg map[string]*string
	if compact {
		cfg = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	}
	adm := kadm.NewClient(cl)
	resps, err := adm.CreateTopics(context.Background(), int32(n), 1, cfg, topics...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		tb.Fatalf("create topics %q: %v", topics, err)
	}
	// Kafka answers before every broker's metadata has the topics; a client
	// that asks at once may be told they do not exist (goka fails then).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		td, err := adm.ListTopics(ctx, topics...)
		ready := err == nil && len(td) == len(topics)
		for _, t := range td {
			ready = ready && t.Err == nil && len(t.Partitions) == n
			for _, p := range t.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
		}
		if ready {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("topics %q not in the brokers' metadata after 30 s (last error %v)", topics, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deleteTopics deletes topics, so that their records no longer take the
// broker's memory.
func deleteTopics(tb testing.TB, addrs []string, topics ...string) {
	tb.Helper()
	cl := newKgo(tb, addrs)
	defer cl.Close()
	if _, err := kadm.NewClient(cl).DeleteTopics(context.Background(), topics...); err != nil {
		tb.Errorf("delete topics %q: %v", topics, err)
	}
}

func newKgo(tb testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafka client: %v", err)
	}
	return cl
}

// produce writes n records to topic, record i made by rec, and returns once
// all are acknowledged. Keys are partitioned as Kafka does (murmur2).
func produce(tb testing.TB, addrs []string, topic string, n int, rec func(i int) (key, value []byte)) {
	tb.Helper()
	produceAt(tb, addrs, topic, n, time.Time{}, rec)
}

// produceAt is produce with every record's timestamp at: the time it is
// written if at is zero.
func produceAt(tb testing.TB, addrs []string, topic string, n int, at time.Time, rec func(i int) (key, value []byte)) {
	tb.Helper()
	cl := newKgo(tb, addrs, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchMaxBytes(1<<20))
	defer cl.Close()
	var failed atomic.Pointer[error]
	for i := range n {
		k, v := rec(i)
		cl.Produce(context.Background(), &kgo.Record{Key: k, Value: v, Timestamp: at}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		tb.Fatalf("produce to %q: flush: %v", topic, err)
	}
	if err := failed.Load(); err != nil {
		tb.Fatalf("produce to %q: %v", topic, *err)
	}
}

// endOffsets returns the sum of the end offsets of topic's partitions: the
// number of records written to it, as long as nothing compacts it.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

// waitEndOffsets polls topic's end offsets every 2 ms until they sum to n.
func waitEndOffsets(tb testing.TB, addrs []string, topic string, n int64, timeout time.Duration) {
	tb.Helper()
	cl := newKgo(tb, addrs)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		got, err := endOffsets(ctx, adm, topic)
		if err == nil && got >= n {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("%q holds %d records after %v, want %d (last error %v)", topic, got, timeout, n, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// keys returns n distinct keys.
func keys(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%06d", prefix, i)
	}
	return out
}

// value100 is a 100-byte value for warm-up and probe records.
var value100 = []byte(strings.Repeat("v", 100))

// valuePool is the 100-byte values of the counting, emitter and ceiling
// workloads: JSON-like events that differ in ids and a random reference, so
// that they compress about as well as real events do (some 1.5x with snappy in
// a batch), not as well as a repeated byte would, which would flatter a
// compressing producer. 10,000 of them span more than snappy's 64 KiB window.
var valuePool = func() [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	const hex = "0123456789abcdef"
	out := make([][]byte, 10_000)
	for i := range out {
		v := fmt.Appendf(nil, `{"user":"user-%06d","page":"/p/%05d","ref":"`, rng.IntN(1_000_000), rng.IntN(100_000))
		for len(v) < 98 {
			v = append(v, hex[rng.IntN(16)])
		}
		out[i] = append(v, '"', '}')
	}
	return out
}()

// value returns the i-th workload value.
func value(i int) []byte { return valuePool[i%len(valuePool)] }

// progress counts processed records and remembers when the first and the
// want-th were processed; done is closed at the want-th.
type progress struct {
	want  int64
	n     atomic.Int64
	first atomic.Int64 // unix ns of the first record
	last  atomic.Int64 // unix ns of the want-th record
	done  chan struct{}
}

func newProgress(want int) *progress {
	return &progress{want: int64(want), done: make(chan struct{})}
}

func (p *progress) mark() {
	n := p.n.Add(1)
	if n == 1 {
		p.first.Store(time.Now().UnixNano())
	}
	if n == p.want {
		p.last.Store(time.Now().UnixNano())
		close(p.done)
	}
}

// wait waits until the want-th record is processed, and fails tb if r's
// run returns first (an implementation that stopped processes nothing more:
// waiting out the timeout would only hide its error) or timeout passes.
func (p *progress) wait(tb testing.TB, r *runner, timeout time.Duration) {
	tb.Helper()
	select {
	case <-p.done:
	case <-r.exited:
		tb.Fatalf("the run stopped after %d of %d records: %v", p.n.Load(), p.want, r.err)
	case <-time.After(timeout):
		tb.Fatalf("processed %d of %d records within %v", p.n.Load(), p.want, timeout)
	}
}

// gokaConfig is goka's DefaultConfig with the one change a benchmark on
// pre-produced input needs: goka starts new groups at the newest offset and
// would skip every record written before it started.
func gokaConfig() *sarama.Config {
	c := goka.DefaultConfig()
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	return c
}

// gokaTopicManagerConfig is goka's default, except for replication 1: goka asks
// for 2, which the one-broker embedded kfake refuses.
func gokaTopicManagerConfig() *goka.TopicManagerConfig {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	return tmc
}

var gokaQuiet = log.New(io.Discard, "", 0)

// gokaOptions are a goka processor's options with goka's defaults except for
// the config above: LevelDB storage (storage.DefaultBuilder) in dir.
func gokaOptions(dir string) []goka.ProcessorOption {
	cfg := gokaConfig()
	return []goka.ProcessorOption{
		goka.WithStorageBuilder(storage.DefaultBuilder(dir)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(cfg)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(cfg)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(cfg)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, gokaTopicManagerConfig())),
		goka.WithLogger(gokaQuiet),
	}
}

// runner is a running processor (goka) or topology (sluice); stop stops it and
// waits until it has.
type runner struct {
	cancel context.CancelFunc
	exited chan struct{} // closed when run returned, with err
	err    error
	once   sync.Once
}

func (r *runner) stop(tb testing.TB) {
	tb.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.exited:
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				tb.Errorf("run: %v", r.err)
			}
		case <-time.After(time.Minute):
			tb.Errorf("run did not stop within a minute")
		}
	})
}

func start(tb testing.TB, run func(ctx context.Context) error) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, exited: make(chan struct{})}
	go func() {
		r.err = run(ctx)
		close(r.exited)
	}()
	tb.Cleanup(func() { r.stop(tb) })
	return r
}

// startSluice runs g with sluice's defaults on addrs, state in a temp dir.
func startSluice(tb testing.TB, addrs []string, g *topology.Graph, opts ...topology.Option) *runner {
	opts = append([]topology.Option{topology.Brokers(addrs...), topology.DataDir(tb.TempDir())}, opts...)
	return start(tb, func(ctx context.Context) error { return topology.Run(ctx, g, opts...) })
}

// startGoka builds a goka processor of gg with gokaOptions and opts, and runs
// it.
func startGoka(tb testing.TB, addrs []string, gg *goka.GroupGraph, opts ...goka.ProcessorOption) *runner {
	tb.Helper()
	p, err := goka.NewProcessor(addrs, gg, append(gokaOptions(tb.TempDir()), opts...)...)
	if err != nil {
		tb.Fatalf("goka processor %s: %v", gg.Group(), err)
	}
	return start(tb, p.Run)
}

// forceGC collects garbage and returns memory to the OS, so that a memory
// measurement starts from what is live.
func forceGC() {
	runtime.GC()
	debug.FreeOSMemory()
}

// perSecond returns n per second of d.
func perSecond(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
