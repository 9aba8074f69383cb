package gokax

import (
	"errors"
	"fmt"
	"hash"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// ErrProducerStopped is the error of every write a processor's producer attempts
// after one of its writes failed: see [kproducer].
var ErrProducerStopped = errors.New("gokax: producer stopped after a failed write")

// orderedRetryBackoff is how long sarama's partition producer waits, after its
// broker connection failed, before it connects again (Producer.Retry.Backoff,
// which with Retry.Max = 0 is used for nothing else). The failed write's error
// reaches the gate through goka's promise in microseconds; this is the margin
// for a scheduler under load.
const orderedRetryBackoff = 500 * time.Millisecond

// orderedProducerBuilder returns goka's sarama producer on a clone of cfg that
// stops for good at its first failed write, so that the records it writes to
// each partition are always a prefix of the records emitted to it. It was the
// producer builder of processors until they moved to franz-go's producer
// ([kproducer], which keeps the same prefix while retrying); only tests use it
// now, to pin sarama's failure behaviour described below (ordered_test.go,
// isolate_test.go), which is why sarama's producers are kept out of
// processors.
//
// sarama v1.46.3 keeps a partition's order only while nothing fails. With
// Net.MaxOpenRequests = 1 a broker connection still has two produce requests
// on the wire (the second is written before sarama waits for the first's
// response slot) and a third batch filling. When the connection dies, the
// first request's error retries its batch and the filling one, the second's
// error arrives after and retries its batch behind them: batches 1, 3, 2. The
// soak saw exactly that after a broker kill (k000 seq 145-151 before 141-144).
// Without retries those batches fail instead, but sarama goes on writing the
// partition's next records on a new connection, and after the processor's
// restart the replay writes the failed ones behind them: a reordering too.
//
// So this producer never retries (a failed write fails the processor,
// the supervisor restarts it, and ordered commits replay from before the
// failed record), and the first error trips a gate in the producer's dialer:
// its connections refuse every later write and it opens no new one, so nothing
// after the failed record reaches the log before the replay. The error reaches
// the gate before sarama reconnects (it waits [orderedRetryBackoff] first). One
// window remains: a partition-level error (not a broken connection) on one
// request while the next is already on the wire: the next may be written. The
// soak's single broker has not answered so; a real cluster does on leader
// changes.
//
// A write the broker refuses for good trips the gate too: the broker refuses
// a batch whole, so the refused record's neighbours failed with it and the
// replay must write them in order. The replay isolates the suspects (see
// isolate.go), so that a refusal costs its record alone.
//
// Emitters do not use it: a stopped producer would fail every later emit of a
// long-lived emitter, which nothing replays.
func orderedProducerBuilder(cfg *sarama.Config, iso *procIsolation) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := clone(cfg)
		c.ClientID = clientID
		c.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		c.Producer.Retry.Max = 0
		c.Producer.Retry.Backoff = orderedRetryBackoff
		g := &gate{dial: c.Net.Proxy.Dialer}
		// Once the gate tripped, nothing waits: closing the producer fails what
		// is left at once instead of retrying metadata against a refusing dialer.
		c.Producer.Retry.BackoffFunc = g.backoff(c.Producer.Retry.Backoff, c.Producer.Retry.BackoffFunc)
		c.Metadata.Retry.BackoffFunc = g.backoff(c.Metadata.Retry.Backoff, c.Metadata.Retry.BackoffFunc)
		if !c.Net.Proxy.Enable || g.dial == nil {
			g.dial = &net.Dialer{Timeout: c.Net.DialTimeout, KeepAlive: c.Net.KeepAlive, LocalAddr: c.Net.LocalAddr}
		}
		c.Net.Proxy.Enable = true
		c.Net.Proxy.Dialer = g
		p, err := newGokaProducer(brokers, c)
		if err != nil {
			return nil, err
		}
		return &orderedProducer{Producer: p, gate: g, iso: iso, brokers: brokers, cfg: c}, nil
	}
}

// orderedProducer trips its gate at the first failed write, and sends the
// writes of records handled in isolation through a producer of their own.
type orderedProducer struct {
	goka.Producer
	gate    *gate
	iso     *procIsolation // nil: no isolation (tests)
	brokers []string
	cfg     *sarama.Config

	soloMu sync.Mutex
	solo   goka.Producer // the isolated writes' producer, once one was sent
}

func (p *orderedProducer) Emit(topic string, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *orderedProducer) EmitWithHeaders(topic string, key string, value []byte, headers goka.Headers) *goka.Promise {
	if err := p.gate.closed(); err != nil {
		return failed(err)
	}
	if id, ok := headers[isolateHeader]; ok {
		h := make(goka.Headers, len(headers)-1)
		for k, v := range headers {
			if k != isolateHeader {
				h[k] = v
			}
		}
		if p.iso != nil {
			if r := p.iso.isolation.get(string(id)); r != nil {
				return p.isolatedWrite(r, topic, key, value, h)
			}
		}
		headers = h
	}
	return p.Producer.EmitWithHeaders(topic, key, value, headers).Then(p.fail)
}

// fail trips the gate at a failed write; a refusal makes suspects of the
// records in flight first.
func (p *orderedProducer) fail(err error) {
	if err != nil && recordRefused(err) {
		p.iso.refused(err)
	}
	p.gate.fail(err)
}

// Close closes the producer and the isolated writes' producer.
func (p *orderedProducer) Close() error {
	err := p.Producer.Close()
	p.soloMu.Lock()
	defer p.soloMu.Unlock()
	if p.solo != nil {
		err = errors.Join(err, p.solo.Close())
	}
	return err
}

// failed returns a promise finished with err.
func failed(err error) *goka.Promise {
	_, finish := goka.NewPromiseWithFinisher()
	return finish(nil, err)
}

// gate is a producer's dialer. Once tripped it dials nothing and its
// connections write nothing.
type gate struct {
	dial interface {
		Dial(network, addr string) (net.Conn, error)
	}
	tripped atomic.Pointer[error] // the first failed write's error
}

// backoff returns a retry backoff function that waits as f does (d if f is
// nil) while g is open, and not at all once it tripped.
func (g *gate) backoff(d time.Duration, f func(retries, maxRetries int) time.Duration) func(int, int) time.Duration {
	return func(retries, maxRetries int) time.Duration {
		switch {
		case g.tripped.Load() != nil:
			return 0
		case f != nil:
			return f(retries, maxRetries)
		}
		return d
	}
}

// fail trips g if err is a failed write.
func (g *gate) fail(err error) {
	if err != nil {
		g.tripped.CompareAndSwap(nil, &err)
	}
}

// closed returns the error a tripped gate gives, nil if it is open.
func (g *gate) closed() error {
	if e := g.tripped.Load(); e != nil {
		return fmt.Errorf("%w: %w", ErrProducerStopped, *e)
	}
	return nil
}

// Dial implements sarama's proxy dialer.
func (g *gate) Dial(network, addr string) (net.Conn, error) {
	if err := g.closed(); err != nil {
		return nil, err
	}
	conn, err := g.dial.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: conn, g: g}, nil
}

// gatedConn refuses writes once its gate tripped, and closes itself then.
type gatedConn struct {
	net.Conn
	g *gate
}

func (c *gatedConn) Write(b []byte) (int, error) {
	if err := c.g.closed(); err != nil {
		_ = c.Conn.Close()
		return 0, err
	}
	return c.Conn.Write(b)
}
