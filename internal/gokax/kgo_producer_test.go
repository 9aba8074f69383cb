package gokax

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// newTestKproducer returns a processor producer on the broker at addrs with
// cfg (nil: Config()); it is closed in t.Cleanup.
func newTestKproducer(t *testing.T, addrs []string, cfg *sarama.Config) *kproducer {
	t.Helper()
	if cfg == nil {
		cfg = Config()
	}
	p, err := newKproc(addrs, cfg, "g", nil).producerBuilder()(addrs, "test", Hasher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.(*kproducer)
}

// TestKproducerStopsAtFirstFailedWrite pins the gate of processors' franz-go
// producers: retriable failures are retried in order and fail nothing, and
// after a write fails for good no later write reaches the topic, including
// one franz-go held when the failure came (which it would otherwise send).
func TestKproducerStopsAtFirstFailedWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   func(*broker.Broker)
		stops   bool
		written []string // of a, b
	}{
		{"connection dropped", func(b *broker.Broker) { b.Drop(kmsg.Produce, 1, nil) }, false, []string{"a", "b"}},
		{"retriable partition error", func(b *broker.Broker) { b.Fail(kmsg.Produce, kerr.NotLeaderForPartition, 2, nil) }, false, []string{"a", "b"}},
		// The broker applied b and answered with a timeout: the retry
		// writes it again (at least once).
		{"request timed out", func(b *broker.Broker) { b.Fail(kmsg.Produce, kerr.RequestTimedOut, 1, nil) }, false, []string{"a", "b", "b"}},
		{"record refused", func(b *broker.Broker) { b.Fail(kmsg.Produce, kerr.InvalidRecord, 1, nil) }, true, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.Start(t)
			addrs := b.Addrs()
			kafkatest.CreateTopic(t, addrs, "out", 1, nil)
			p := newTestKproducer(t, addrs, nil)
			emit := func(value string) error {
				done := make(chan error, 1)
				p.EmitWithHeaders("out", "k", []byte(value), nil).Then(func(err error) { done <- err })
				return wait(t, value, done)
			}
			if err := emit("a"); err != nil {
				t.Fatalf("first write: %v", err)
			}
			tc.fault(b)
			err := emit("b")
			want := tc.written
			if tc.stops {
				if err == nil {
					t.Fatal("the refused write succeeded")
				}
				// Held by franz-go when the write failed: past the gate's
				// check, so only the gate's context can fail it.
				held := make(chan error, 1)
				p.cl.Produce(p.gctx, &kgo.Record{Topic: "out", Key: []byte("k"), Value: []byte("c")}, func(_ *kgo.Record, err error) { held <- err })
				if err := wait(t, "c", held); err == nil {
					t.Error("a record franz-go held after the failure was written")
				}
				if err := emit("d"); !errors.Is(err, ErrProducerStopped) {
					t.Errorf("write after the failed one: got %v, want %v", err, ErrProducerStopped)
				}
			} else if err != nil {
				t.Fatalf("write through a retriable fault: %v", err)
			}
			want = append(slices.Clone(want), "end")
			kafkatest.Produce(t, addrs, "out", &kgo.Record{Key: []byte("k"), Value: []byte("end")})
			var got []string
			for _, r := range kafkatest.ConsumeN(t, addrs, "out", len(want)) {
				got = append(got, string(r.Value))
			}
			if !slices.Equal(got, want) {
				t.Errorf("topic holds %q, want %q", got, want)
			}
		})
	}
}

// TestKproducerWritesInOrder drops the broker connection in the middle of a
// stream of writes to one partition, several times: every write succeeds
// and the topic holds them in the order emitted (retries in order; none
// fails).
func TestKproducerWritesInOrder(t *testing.T) {
	const n = 3000
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "out", 1, nil)
	p := newTestKproducer(t, addrs, nil)
	var produces atomic.Int64
	f := b.Drop(kmsg.Produce, 3, func(kmsg.Request) bool { return produces.Add(1)%3 == 2 })
	// Ten bursts, each awaited: ten requests at least, three of them dropped.
	done := make(chan error, n)
	for burst := range 10 {
		for i := burst * n / 10; i < (burst+1)*n/10; i++ {
			p.Emit("out", "k", []byte(strconv.Itoa(i))).Then(func(err error) { done <- err })
		}
		for i := burst * n / 10; i < (burst+1)*n/10; i++ {
			if err := wait(t, strconv.Itoa(i), done); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
	}
	for i, r := range kafkatest.ConsumeN(t, addrs, "out", n) {
		if got := string(r.Value); got != strconv.Itoa(i) {
			t.Fatalf("record %d of the topic is %s: not the order emitted", i, got)
		}
	}
	if f.Hits() != 3 {
		t.Fatalf("%d produce requests dropped, want 3", f.Hits())
	}
}

// TestStoppingProcessorDoesNotWaitForWrites pins what a processor's stop
// costs when its writes cannot be written (the broker refuses them with a
// retriable error, as a broker that is going away does): the writes are
// retried for Producer.Timeout (10 s by default), and goka waits up to 60 s
// for them before its partition processor stops; a stopping processor
// fails them after closeGrace instead, and Run returns within seconds, the
// record uncommitted.
func TestStoppingProcessorDoesNotWaitForWrites(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "in", 1, nil)
	kafkatest.CreateTopic(t, addrs, "out", 1, nil)
	handled := make(chan string, 10)
	g := Group{Name: "g", Inputs: []Input{{Topic: "in", Handle: func(m *Msg, v []byte) {
		if err := m.Emit("out", m.Key(), v, nil); err != nil {
			t.Errorf("emit: %v", err)
		}
		handled <- string(v)
	}}}, Outputs: []string{"out"}}
	p, err := NewProcessor(g, Options{Brokers: addrs, Storage: storage.MemoryBuilder()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	kafkatest.Produce(t, addrs, "in", &kgo.Record{Key: []byte("k"), Value: []byte("a")})
	if v := <-handled; v != "a" {
		t.Fatalf("handled %q, want a", v)
	}
	kafkatest.WaitFor(t, time.Minute, func() bool { return len(kafkatest.ConsumeAll(t, addrs, "out")) == 1 })
	f := b.Fail(kmsg.Produce, kerr.NotLeaderForPartition, -1, broker.ForTopic("out"))
	defer f.Remove()
	kafkatest.Produce(t, addrs, "in", &kgo.Record{Key: []byte("k"), Value: []byte("b")})
	<-handled
	kafkatest.WaitFor(t, time.Minute, func() bool { return f.Hits() > 0 })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still running a minute after the stop")
	}
	if took := time.Since(start); took > closeGrace+3*time.Second {
		t.Errorf("Run returned %v after the stop, want about closeGrace (%v): it waited for the writes", took, closeGrace)
	}
	offs, err := kafkatest.Admin(t, addrs).FetchOffsets(t.Context(), "g")
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("in", 0); !ok || o.At != 1 {
		t.Errorf("committed offset of in/0 = %v (ok %v), want 1: b's write failed, a's did not", o.At, ok)
	}
}

var _ goka.Producer = (*kproducer)(nil)
