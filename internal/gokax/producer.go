package gokax

import (
	"fmt"

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
