package topology_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

var (
	seqIn  = topology.Stream[int64]{Name: "seq-in", Codec: topology.Int64()}
	seqOut = topology.Stream[int64]{Name: "seq-out", Codec: topology.Int64()}
)

// TestConsumeAsyncKeepsKeyOrderAndLosesNothing runs slow work concurrently,
// on the embedded broker and on Apache Kafka, and checks what the scheduler
// promises: per key, results are applied in input order; every record is
// applied; work really ran concurrently within the bound.
func TestConsumeAsyncKeepsKeyOrderAndLosesNothing(t *testing.T) {
	kafkatest.EachBroker(t, consumeAsyncKeepsKeyOrder)
}

func consumeAsyncKeepsKeyOrder(t *testing.T, b *kafkatest.Broker) {
	const keys, perKey, concurrency = 20, 25, 8
	seqIn, seqOut := seqIn, seqOut
	seqIn.Name, seqOut.Name = b.Name(seqIn.Name), b.Name(seqOut.Name)
	var inFlight, peak atomic.Int64
	work := func(ctx context.Context, _ string, seq int64) (int64, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-time.After(time.Duration(rand.IntN(8)) * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return seq, nil
	}
	agent := topology.Agent[int64]{
		Name:  b.Name("slow"),
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.ConsumeAsync(seqIn, concurrency, topology.Int64(), work,
			func(c *topology.Context[int64], key string, seq int64) error {
				last, ok, err := c.State()
				if err != nil {
					return err
				}
				if ok && seq <= last {
					return fmt.Errorf("key %s: seq %d applied after %d: %w", key, seq, last, topology.ErrPermanent)
				}
				if err := c.SetState(seq); err != nil {
					return err
				}
				return topology.Emit(c, seqOut, key, seq)
			})},
		Outputs: []topology.Topic{seqOut},
	}
	g := &topology.Graph{Name: "async", Sources: []topology.Topic{seqIn}, Sinks: []topology.Topic{seqOut}, Agents: []topology.AgentDecl{agent}}
	addrs := b.Addrs()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir())}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := 1; i <= perKey; i++ {
		for k := range keys {
			recs = append(recs, &kgo.Record{Topic: seqIn.Name, Key: fmt.Appendf(nil, "k%d", k), Value: strconv.AppendInt(nil, int64(i), 10)})
		}
	}
	kafkatest.Produce(t, addrs, seqIn.Name, recs...)
	running(t, g, opts...)

	// Every key's outputs are 1, 2, ..., perKey in order (duplicates of a replay
	// would show as a step back, which the apply handler also refuses).
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cl := kafkatest.Client(t, addrs, kgo.ConsumeTopics(seqOut.Name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := map[string]int64{}
	done := 0
	for done < keys {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d keys complete before the deadline: %v", done, keys, next)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seq, _ := strconv.ParseInt(string(r.Value), 10, 64)
			k := string(r.Key)
			if want := next[k] + 1; seq != want {
				t.Fatalf("key %s: got seq %d, want %d", k, seq, want)
			}
			next[k] = seq
			if seq == perKey {
				done++
			}
		})
	}
	if got := kafkatest.ConsumeAll(t, addrs, topology.DeadLetterName(agent.Name)); len(got) != 0 {
		t.Fatalf("%d dead letters, want 0: first: %s", len(got), got[0].Headers)
	}
	if p := peak.Load(); p < 2 || p > concurrency*topology.DefaultPartitions {
		t.Fatalf("peak concurrent work = %d, want 2..%d", p, concurrency*topology.DefaultPartitions)
	}
	t.Logf("peak concurrent work calls: %d", peak.Load())
}

// TestConsumeAsyncTimestamp pins that apply sees the input record's
// timestamp, carried through the loop topic, not the loop record's own: inline
// (concurrency 1) and with work in flight concurrently.
func TestConsumeAsyncTimestamp(t *testing.T) {
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			b := kafkatest.OnEmbedded(t)
			in := topology.Stream[int64]{Name: b.Name("ts-in"), Codec: topology.Int64()}
			out := topology.Stream[int64]{Name: b.Name("ts-out"), Codec: topology.Int64()}
			agent := topology.Agent[struct{}]{
				Name: b.Name("stamper"),
				Inputs: []topology.Input[struct{}]{topology.ConsumeAsync(in, concurrency, topology.Int64(),
					func(_ context.Context, _ string, v int64) (int64, error) { return v, nil },
					func(c *topology.Context[struct{}], key string, _ int64) error {
						return topology.Emit(c, out, key, c.Timestamp().UnixMilli())
					})},
				Outputs: []topology.Topic{out},
			}
			g := &topology.Graph{Name: "stamps", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out}, Agents: []topology.AgentDecl{agent}}
			opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir())}
			if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
				t.Fatal(err)
			}
			base := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			want := map[string]int64{}
			var recs []*kgo.Record
			for i := range 12 {
				k := fmt.Sprintf("k%d", i)
				ts := base.Add(time.Duration(i) * time.Hour)
				want[k] = ts.UnixMilli()
				recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte("1"), Timestamp: ts})
			}
			kafkatest.Produce(t, b.Addrs(), in.Name, recs...)
			running(t, g, opts...)
			for _, r := range kafkatest.ConsumeN(t, b.Addrs(), out.Name, len(recs)) {
				got, _ := strconv.ParseInt(string(r.Value), 10, 64)
				if w := want[string(r.Key)]; got != w {
					t.Errorf("key %s: apply saw timestamp %v, want the input record's %v", r.Key, time.UnixMilli(got).UTC(), time.UnixMilli(w).UTC())
				}
			}
		})
	}
}
