package gokax

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer sends records with a goka producer on franz-go ([kemitter]),
// partitioned exactly as processors expect, and reports the outcome of each
// through a callback.
type Producer struct {
	p goka.Producer
}

// NewProducer connects a producer to brokers with cfg (nil means [Config]).
// It fails when no broker answers within [requestWait], or one refuses the
// connection's credentials or certificate: a franz-go client dials only
// when it first needs to, and an emitter that could never write should
// say so when it is made, as sarama's did.
func NewProducer(brokers []string, clientID string, cfg *sarama.Config) (*Producer, error) {
	if cfg == nil {
		cfg = Config()
	}
	p, err := newKemitter(brokers, cfg, clientID, Hasher)
	if err != nil {
		return nil, fmt.Errorf("gokax: producer: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestWait)
	defer cancel()
	if err := p.(*kemitter).cl.Ping(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("gokax: producer: %w", err), p.Close())
	}
	return &Producer{p: p}, nil
}

// Send produces one record; done is called once, from another goroutine, with the
// outcome after the broker acknowledged or the producer gave up.
func (p *Producer) Send(topic, key string, value []byte, headers map[string][]byte, done func(err error)) {
	p.p.EmitWithHeaders(topic, key, value, headers).Then(done)
}

// Close flushes pending records and closes the producer; callbacks of pending
// records run before it returns.
func (p *Producer) Close() error { return p.p.Close() }

// kemitter is the goka producer of emitters (and of timers' and async
// work's records: every [Producer]) on a franz-go client of its own,
// partitioning with goka's hasher as processors do. Unlike a processor's
// producer ([kproducer]) it never stops: a failed write fails its own
// promise, and later writes go on. A write is retried in order while a
// broker is reachable, and fails when none took it for [deliveryTimeout]
// or the broker refused it. Its Close returns once every promise is
// finished and the client is closed (franz-go's Close is synchronous: no
// connection or goroutine outlives it).
type kemitter struct {
	cl        *kgo.Client
	closeOnce sync.Once
}

// newKemitter returns a goka producer to brokers on cfg, named clientID,
// partitioning with hasher.
func newKemitter(brokers []string, cfg *sarama.Config, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
	opts, err := kgoCommonOpts(brokers, cfg, clientID)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgoProducerOpts(cfg, hasher, false)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &kemitter{cl: cl}, nil
}

func (p *kemitter) Emit(topic string, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *kemitter) EmitWithHeaders(topic string, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	r := record(topic, key, value, headers)
	if r.Value == nil {
		r.Value = []byte{} // as goka's sarama producer: a nil value is sent empty, not null
	}
	p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			finish(nil, err)
			return
		}
		finish(&sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}, nil)
	})
	return promise
}

// Close waits until every write is answered (each fails after
// [deliveryTimeout] at most), then closes the client. Writes after Close
// fail.
func (p *kemitter) Close() error {
	p.closeOnce.Do(func() {
		_ = p.cl.Flush(context.Background()) // with no deadline, it ends when every promise did
		p.cl.Close()
	})
	return nil
}
