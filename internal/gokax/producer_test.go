package gokax

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestProducer pins the producer of emitters, timers and async work: each
// record reaches the partition processors expect for its key (Kafka's
// murmur2, [Partition]), a nil value is written empty and not as a
// tombstone (as goka's sarama producer did), headers are kept, every
// callback has run when Close returns, and a write after Close fails.
func TestProducer(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "out", 4, nil)
	leaks := noLeak(t)
	p, err := NewProducer(addrs, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var done, failed atomic.Int64
	for i := range n {
		var v []byte
		if i > 0 {
			v = fmt.Appendf(nil, "v%d", i)
		}
		p.Send("out", fmt.Sprintf("k%d", i), v, map[string][]byte{"h": []byte("x")}, func(err error) {
			if err != nil {
				failed.Add(1)
			}
			done.Add(1)
		})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if done.Load() != n || failed.Load() != 0 {
		t.Errorf("after Close: %d callbacks, %d failed; want %d, none failed", done.Load(), failed.Load(), n)
	}
	after := make(chan error, 1)
	p.Send("out", "k", []byte("v"), nil, func(err error) { after <- err })
	if err := <-after; err == nil {
		t.Error("a write after Close succeeded")
	}
	leaks()
	recs := kafkatest.ConsumeN(t, addrs, "out", n)
	for _, r := range recs {
		if want := Partition(r.Key, 4); r.Partition != want {
			t.Errorf("%s in partition %d, want %d", r.Key, r.Partition, want)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "h" {
			t.Errorf("%s has headers %v", r.Key, r.Headers)
		}
		if string(r.Key) == "k0" && (r.Value == nil || len(r.Value) != 0) {
			t.Errorf("a nil value was written as %#v, want empty", r.Value)
		}
	}
}

// TestNewProducerWithoutBroker pins that a producer no broker answers is
// refused when it is made, and leaves nothing behind: franz-go dials only
// when it first writes, and an emitter would otherwise fail every write,
// 10 s each.
func TestNewProducerWithoutBroker(t *testing.T) {
	leaks := noLeak(t)
	if _, err := NewProducer([]string{"127.0.0.1:1"}, "test", nil); err == nil {
		t.Error("a producer without a broker was made")
	}
	leaks()
}

// dating is a sarama interceptor that dates every message at, adds a
// header, and tries to change the key.
type dating struct{ at time.Time }

func (s dating) OnSend(m *sarama.ProducerMessage) {
	m.Timestamp = s.at
	m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte("stamped"), Value: []byte(m.Topic)})
	m.Key = sarama.StringEncoder("changed")
}

// panicky is a sarama interceptor that panics.
type panicky struct{}

func (panicky) OnSend(*sarama.ProducerMessage) { panic("interceptor") }

// TestProducerInterceptors pins that sarama's Producer.Interceptors run on
// every record of a franz-go producer, as on sarama's: the timestamp and
// headers an OnSend sets are written, the key is sluice's, and a panicking
// interceptor is passed over.
func TestProducerInterceptors(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "out", 1, nil)
	cfg := Config()
	// A second back: franz-go times a write out from its timestamp
	// (RecordDeliveryTimeout, Producer.Timeout), so one dated further back
	// than that fails before it is sent.
	at := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	cfg.Producer.Interceptors = []sarama.ProducerInterceptor{panicky{}, dating{at}}
	p, err := NewProducer(addrs, "test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	p.Send("out", "k", []byte("v"), map[string][]byte{"h": []byte("x")}, func(err error) { errs <- err })
	if err := <-errs; err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r := kafkatest.ConsumeN(t, addrs, "out", 1)[0]
	h := map[string]string{}
	for _, rh := range r.Headers {
		h[rh.Key] = string(rh.Value)
	}
	if !r.Timestamp.Equal(at) || string(r.Key) != "k" || len(h) != 2 || h["h"] != "x" || h["stamped"] != "out" {
		t.Errorf("record %q at %v with headers %v, want %q at %v with h=x and stamped=out", r.Key, r.Timestamp, h, "k", at)
	}
}
