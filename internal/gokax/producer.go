package gokax

import (
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Producer sends records with goka's producer (so records are partitioned exactly
// as processors expect) and reports the outcome of each through a callback.
type Producer struct {
	p goka.Producer
}

// NewProducer connects a producer to brokers with cfg (nil means [Config]).
func NewProducer(brokers []string, clientID string, cfg *sarama.Config) (*Producer, error) {
	if cfg == nil {
		cfg = Config()
	}
	p, err := ProducerBuilder(cfg)(brokers, clientID, Hasher)
	if err != nil {
		return nil, fmt.Errorf("gokax: producer: %w", err)
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

// gokaProducer is goka's producer (goka.NewProducer) on [newAsyncProducer]:
// its Close returns once the producer flushed, every promise is finished
// and the client's connections are closed.
type gokaProducer struct {
	p  *clientProducer
	wg sync.WaitGroup // the goroutines that finish promises
}

// newGokaProducer returns a goka producer to brokers on a clone of cfg.
func newGokaProducer(brokers []string, cfg *sarama.Config) (goka.Producer, error) {
	p, err := newAsyncProducer(brokers, cfg)
	if err != nil {
		return nil, err
	}
	gp := &gokaProducer{p: p}
	gp.wg.Go(func() {
		for perr := range p.Errors() {
			perr.Msg.Metadata.(goka.PromiseFinisher)(nil, perr)
		}
	})
	gp.wg.Go(func() {
		for msg := range p.Successes() {
			msg.Metadata.(goka.PromiseFinisher)(msg, nil)
		}
	})
	return gp, nil
}

func (p *gokaProducer) Emit(topic string, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *gokaProducer) EmitWithHeaders(topic string, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	p.p.Input() <- &sarama.ProducerMessage{
		Topic:    topic,
		Key:      sarama.StringEncoder(key),
		Value:    sarama.ByteEncoder(value), // as goka's: a nil value is sent empty, not null
		Metadata: finish,
		Headers:  headers.ToSarama(),
	}
	return promise
}

// Close flushes the producer, waits until every promise is finished, and
// closes the client.
func (p *gokaProducer) Close() error {
	p.p.AsyncProducer.AsyncClose() // sarama's: the channels close after the last result
	p.wg.Wait()
	return p.p.client.Close()
}
