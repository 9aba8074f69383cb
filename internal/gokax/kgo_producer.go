package gokax

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kproducer is the goka producer of a processor on its franz-go client
// ([kproc]). Like [orderedProducerBuilder]'s sarama producer it keeps each
// partition's written records a prefix of the records emitted to it until
// the processor's replay, and stops at its first failed write; franz-go
// lets it do so while retrying:
//
//   - With one request in flight per broker (see [kgoProducerOpts]) a
//     retried batch is written before anything after it, so writes are
//     retried while the broker is reachable: nothing fails on a broken
//     connection, a leader change or a timeout; the write waits and goes on
//     in order.
//   - A write fails when the broker refuses its batch for good, when no
//     broker took it for [deliveryTimeout], or when the producer stops.
//     franz-go then fails every record buffered for the partition behind
//     it, and goes on with records produced later: so the first failure
//     trips a gate. Every record is produced with the gate's context, whose
//     cancellation fails the records not yet sent (franz-go checks a batch's
//     first record's context before it sends it), and later emits fail at
//     once with [ErrProducerStopped]. A record emitted between franz-go's
//     failure and the gate (microseconds: the failure reaches the gate in
//     franz-go's promise goroutine) is failed by the cancellation unless it
//     was sent in between; after a delivery timeout no broker took
//     requests, so it was not.
//   - When the processor stops, writes still buffered after [closeGrace]
//     fail (see [kproc.stopping]): goka's partition processors wait up to
//     60 s for their writes, and a processor stopping while the broker is
//     away stops in seconds instead.
//
// Its writes' promises get the record's partition and offset, which goka
// stores as a table's changelog offset.
type kproducer struct {
	k  *kproc
	cl *kgo.Client

	gctx    context.Context // every record's; cancelled when the gate trips
	trip    context.CancelFunc
	tripped atomic.Pointer[error]

	closeOnce sync.Once
}

// closeGrace bounds how long Close waits for buffered writes.
const closeGrace = 2 * time.Second

func newKproducer(k *kproc, cl *kgo.Client) *kproducer {
	ctx, cancel := context.WithCancel(context.Background())
	return &kproducer{k: k, cl: cl, gctx: ctx, trip: cancel}
}

func (p *kproducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *kproducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	if err := p.stopped(); err != nil {
		return failed(err)
	}
	promise, finish := goka.NewPromiseWithFinisher()
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if r.Key == nil {
		r.Key = []byte{} // an empty key is a key: partitioned by its hash, as sarama does
	}
	for k, v := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: v})
	}
	if p.k.tx != nil {
		p.k.tx.wroteOne()
	}
	p.cl.Produce(p.gctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			p.fail(err)
			finish(nil, err)
			return
		}
		finish(&sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}, nil)
	})
	return promise
}

// fail trips the gate at the first failed write: records not on the wire
// fail, later emits fail at once.
func (p *kproducer) fail(err error) {
	if p.tripped.CompareAndSwap(nil, &err) {
		p.trip()
	}
	if p.k.tx != nil {
		p.k.tx.fail(fmt.Errorf("transactional producer %q: write: %w: %w", p.k.tx.id, ErrTxn, err))
	}
}

// stopped returns the error of a tripped gate, nil if it is open.
func (p *kproducer) stopped() error {
	if e := p.tripped.Load(); e != nil {
		return fmt.Errorf("%w: %w", ErrProducerStopped, *e)
	}
	return nil
}

// errClosing is the error of the writes Close fails.
var errClosing = errors.New("gokax: producer closed with the write pending")

// Close waits up to [closeGrace] for buffered writes, fails the rest and
// gives the client back.
func (p *kproducer) Close() error {
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		err := p.cl.Flush(ctx)
		cancel()
		if err != nil {
			p.fail(errClosing)
		}
		p.k.release()
	})
	return nil
}

var _ goka.Producer = (*kproducer)(nil)
