package topology

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/gokax"
)

// ErrEmitterClosed is returned by [Emitter] methods after [Emitter.Close].
var ErrEmitterClosed = errors.New("topology: emitter closed")

// Emitter writes typed records to one stream from outside the graph: a
// generator, an HTTP handler, a test. Unlike goka's Emitter, whose failed writes
// surface only through promises nobody checks, every failed write comes back as an
// error: from [Emitter.Write] directly, or from the next [Emitter.Flush] or
// [Emitter.Close] after [Emitter.Send].
//
// An Emitter is safe for concurrent use.
type Emitter[T any] struct {
	stream Stream[T]
	p      *gokax.Producer

	// closing guards closed: sends hold it shared while they hand a record to the
	// producer, Close exclusively, because goka's producer panics on a send after
	// Close. Callbacks never take it.
	closing sync.RWMutex
	closed  bool
	mu      struct {
		sync.Mutex
		// pending counts the sends not yet acknowledged or failed; idle is closed
		// when it drops to 0, and nil while it is 0. (A sync.WaitGroup cannot be
		// waited on while sends add to it from 0, as a concurrent Flush would.)
		pending int
		idle    chan struct{}
		failed  int
		errs    []error // the first few failures since the last Flush
	}
}

// maxReportedErrors bounds the errors an Emitter keeps between flushes; the count
// of failures is always exact.
const maxReportedErrors = 10

// NewEmitter connects an emitter for s to the cluster named by [Brokers]
// (required); the other options that apply are [KafkaConfig] and
// [WithSecurity]. Its producer uses
// acks=all with one request in flight, as agents do.
func NewEmitter[T any](s Stream[T], opts ...Option) (*Emitter[T], error) {
	c := newRunConfig(opts)
	if err := c.check(forEmitter); err != nil {
		return nil, fmt.Errorf("emitter for %q: %w", s.Name, err)
	}
	if s.Name == "" {
		return nil, fmt.Errorf("emitter: %w", ErrNoName)
	}
	if s.Codec == nil {
		return nil, fmt.Errorf("emitter for %q: %w", s.Name, ErrNoCodec)
	}
	if len(c.brokers) == 0 {
		return nil, fmt.Errorf("emitter for %q: %w", s.Name, ErrNoBrokers)
	}
	if err := c.connect(); err != nil {
		return nil, fmt.Errorf("emitter for %q: %w", s.Name, err)
	}
	p, err := gokax.NewProducer(c.brokers, "sluice-emitter-"+s.Name, c.kafka)
	if err != nil {
		return nil, fmt.Errorf("emitter for %q: %w", s.Name, checkConnection(err))
	}
	return &Emitter[T]{stream: s, p: p}, nil
}

// Write writes v under key and waits until the broker acknowledged it, the
// producer gave up (the error says why), or ctx is done. (Unlike [Emit], a
// handler's, which takes effect only when its record's handling commits.) After ctx is done the
// write may still succeed; its outcome is then reported by the next Flush. The
// record carries the trace context of ctx, if any (see [Tracing]).
func (e *Emitter[T]) Write(ctx context.Context, key string, v T) error {
	w := &waiter{outcome: make(chan error, 1)}
	if err := e.send(key, v, traceHeaders(ctx), w.deliver); err != nil {
		return err
	}
	select {
	case err := <-w.outcome:
		return err
	case <-ctx.Done():
		if w.abandon() {
			return ctx.Err()
		}
		return <-w.outcome // delivered meanwhile: report it here, not in Flush
	}
}

// waiter hands the outcome of one write to the Write waiting for it, unless that
// Write has stopped waiting: then the outcome goes to the next Flush.
type waiter struct {
	state   atomic.Int32 // waiting, then delivered or abandoned
	outcome chan error
}

const (
	waiting int32 = iota
	delivered
	abandoned
)

// deliver passes err to the Write and reports true, or reports false if the Write
// stopped waiting.
func (w *waiter) deliver(err error) bool {
	if !w.state.CompareAndSwap(waiting, delivered) {
		return false
	}
	w.outcome <- err
	return true
}

// abandon stops waiting and reports true, or reports false if the outcome was
// delivered first.
func (w *waiter) abandon() bool { return w.state.CompareAndSwap(waiting, abandoned) }

// Send writes v under key without waiting. An encoding error is returned at once;
// a failed write is reported by the next [Emitter.Flush] or [Emitter.Close].
func (e *Emitter[T]) Send(key string, v T) error {
	return e.send(key, v, nil, nil)
}

// SendContext is [Emitter.Send] for a record that carries the trace context of
// ctx, if any (see [Tracing]); ctx does not bound the write.
func (e *Emitter[T]) SendContext(ctx context.Context, key string, v T) error {
	return e.send(key, v, traceHeaders(ctx), nil)
}

// send hands the record with headers h to the producer. done, if not nil, is
// offered the outcome; a failure it does not take is reported by the next Flush.
func (e *Emitter[T]) send(key string, v T, h map[string][]byte, done func(error) bool) error {
	b, err := e.stream.Codec.Encode(v)
	if err != nil {
		return fmt.Errorf("emitter for %q: encode: %w", e.stream.Name, err)
	}
	e.closing.RLock()
	defer e.closing.RUnlock()
	if e.closed {
		return ErrEmitterClosed
	}
	e.begin()
	e.p.Send(e.stream.Name, key, b, h, func(err error) {
		if err != nil {
			err = fmt.Errorf("emitter for %q: key %q: %w", e.stream.Name, key, err)
		}
		if done != nil && done(err) {
			err = nil // reported by Write
		}
		e.end(err)
	})
	return nil
}

// begin counts a send in flight.
func (e *Emitter[T]) begin() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.pending == 0 {
		e.mu.idle = make(chan struct{})
	}
	e.mu.pending++
}

// end counts a send done, recording err, if not nil, for the next Flush.
func (e *Emitter[T]) end(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.mu.failed++
		if len(e.mu.errs) < maxReportedErrors {
			e.mu.errs = append(e.mu.errs, err)
		}
	}
	e.mu.pending--
	if e.mu.pending == 0 {
		close(e.mu.idle)
		e.mu.idle = nil
	}
}

// Flush waits until every record sent so far was acknowledged or failed, and
// returns the failures since the last Flush (nil if none): an error saying how
// many writes failed, joined with the first few of them. It returns ctx.Err() if
// ctx is done first.
func (e *Emitter[T]) Flush(ctx context.Context) error {
	e.mu.Lock()
	idle := e.mu.idle
	e.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.failed == 0 {
		return nil
	}
	err := errors.Join(append([]error{fmt.Errorf("emitter for %q: %d writes failed", e.stream.Name, e.mu.failed)}, e.mu.errs...)...)
	e.mu.failed, e.mu.errs = 0, nil
	return err
}

// Close flushes (see [Emitter.Flush]) and closes the producer, returning every
// failure not yet reported. Close twice returns [ErrEmitterClosed].
func (e *Emitter[T]) Close() error {
	e.closing.Lock()
	if e.closed {
		e.closing.Unlock()
		return ErrEmitterClosed
	}
	e.closed = true
	e.closing.Unlock()
	// The producer's Close drains pending sends (their callbacks run first).
	cerr := e.p.Close()
	return errors.Join(e.Flush(context.Background()), cerr)
}
