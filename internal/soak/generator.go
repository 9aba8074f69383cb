package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// ErrBadGenerator is returned by [NewGenerator] for a configuration it cannot
// run.
var ErrBadGenerator = errors.New("soak: bad generator configuration")

// GeneratorConfig configures a [Generator].
type GeneratorConfig struct {
	Brokers []string
	// Namespace prefixes the input topic's name (see [Config]); Security
	// is how to reach a secured cluster.
	Namespace string
	Security  topology.Security
	// Records is how many records to write in all, at least 1.
	Records int
	// Keys is the number of keys, at least 1: record i has key i mod Keys,
	// so each key gets Records/Keys records, give or take one.
	Keys int
	// Rate is the number of records a second; 0 writes as fast as the
	// broker takes them.
	Rate float64
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Generator writes [Event]s to [Input]: key k0 to k(Keys-1) in turn, each
// key's sequence numbers from 1 up. Its producer keeps one request in flight,
// so a key's records land in order, and retries without limit through broker
// outages, so a write whose acknowledgement was lost can land twice (an input
// repeat, see [Counts]). Only acknowledged records count as sent.
type Generator struct {
	cfg GeneratorConfig
	cl  *kgo.Client

	mu struct {
		sync.Mutex
		sent   Sent
		acked  int
		failed int
		err    error // the first failure
	}
}

// NewGenerator validates cfg and creates the generator's client; it does not
// dial. Close it when done.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, fmt.Errorf("%w: no brokers", ErrBadGenerator)
	case cfg.Records < 1:
		return nil, fmt.Errorf("%w: records %d, want at least 1", ErrBadGenerator, cfg.Records)
	case cfg.Keys < 1:
		return nil, fmt.Errorf("%w: keys %d, want at least 1", ErrBadGenerator, cfg.Keys)
	case cfg.Rate < 0:
		return nil, fmt.Errorf("%w: rate %v, want 0 (unlimited) or more", ErrBadGenerator, cfg.Rate)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := topology.ClientOptions(topology.Brokers(cfg.Brokers...), topology.WithSecurity(cfg.Security))
	if err != nil {
		return nil, err
	}
	in, _, _ := streams(cfg.Namespace)
	cl, err := kgo.NewClient(append(conn,
		kgo.DefaultProduceTopic(in.Name),
		// Not idempotent: the broker's producer state does not survive the
		// soak's broker kills. One request in flight keeps each partition's
		// records in order across retries.
		kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(1),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.UnknownTopicRetries(-1),
	)...)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	g := &Generator{cfg: cfg, cl: cl}
	g.mu.sent = Sent{}
	return g, nil
}

// Key returns the name of key number i.
func Key(i int) string { return fmt.Sprintf("k%03d", i) }

// Run writes the records and waits until each is acknowledged or failed, or
// ctx is done. It returns ctx.Err() in that case, and an error if any write
// failed (the others still count as sent).
func (g *Generator) Run(ctx context.Context) error {
	begin := time.Now()
	for i := range g.cfg.Records {
		if g.cfg.Rate > 0 {
			due := begin.Add(time.Duration(float64(i) / g.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(d):
				}
			}
		}
		e := Event{Key: Key(i % g.cfg.Keys), Seq: int64(i/g.cfg.Keys + 1)}
		v, err := json.Marshal(e)
		if err != nil {
			return err // unreachable: Event is plain data
		}
		g.cl.Produce(ctx, &kgo.Record{Key: []byte(e.Key), Value: v}, func(r *kgo.Record, err error) {
			g.ack(e, err)
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := g.cl.Flush(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.failed > 0 {
		return fmt.Errorf("generator: %d of %d writes failed, the first: %w", g.mu.failed, g.cfg.Records, g.mu.err)
	}
	return nil
}

func (g *Generator) ack(e Event, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.mu.failed++
		if g.mu.err == nil {
			g.mu.err = err
			g.cfg.Logger.Warn("generator write failed", "key", e.Key, "seq", e.Seq, "error", err)
		}
		return
	}
	g.mu.acked++
	g.mu.sent[e.Key] = append(g.mu.sent[e.Key], e.Seq)
}

// Acked returns the number of records acknowledged so far.
func (g *Generator) Acked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.acked
}

// Sent returns a copy of the records acknowledged so far.
func (g *Generator) Sent() Sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(Sent, len(g.mu.sent))
	for k, v := range g.mu.sent {
		out[k] = append([]int64(nil), v...)
	}
	return out
}

// Close closes the generator's client, abandoning writes in flight.
func (g *Generator) Close() { g.cl.Close() }
