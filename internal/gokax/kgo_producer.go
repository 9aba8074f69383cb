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
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrProducerStopped is the error of every write a processor's producer attempts
// after one of its writes failed: see [kproducer].
var ErrProducerStopped = errors.New("gokax: producer stopped after a failed write")

// kproducer is the goka producer of a processor on its franz-go client
// ([kproc]). It keeps each partition's written records a prefix of the
// records emitted to it until the processor's replay, and stops at its
// first failed write; franz-go lets it do so while retrying (sarama's
// producer, the processors' before it, reordered a partition's batches
// when a connection died with two requests on the wire, and wrote later
// records on a new connection after a failed one):
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
	onWritten func(*kgo.Record, error) // p.written, made once

	soloMu sync.Mutex
	solo   *kgo.Client // isolated writes (see isolate.go), once one was sent
}

// closeGrace bounds how long Close waits for buffered writes.
const closeGrace = 2 * time.Second

func newKproducer(k *kproc, cl *kgo.Client) *kproducer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &kproducer{k: k, cl: cl, gctx: ctx, trip: cancel}
	p.onWritten = p.written
	return p
}

func (p *kproducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *kproducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	if err := p.stopped(); err != nil {
		return failed(err)
	}
	if id, ok := headers[isolateHeader]; ok {
		h := make(goka.Headers, len(headers)-1)
		for k, v := range headers {
			if k != isolateHeader {
				h[k] = v
			}
		}
		headers = h
		if p.k.iso != nil {
			if r := p.k.iso.isolation.get(string(id)); r != nil {
				return p.isolatedWrite(r, topic, key, value, headers)
			}
		}
	}
	promise, finish := goka.NewPromiseWithFinisher()
	w := &write{Context: p.gctx, key: key, finish: finish}
	// keyBuf[:0] is not nil: an empty key stays a key, as in record.
	w.rec = kgo.Record{Topic: topic, Key: append(w.keyBuf[:0], key...), Value: value, Headers: recordHeaders(headers), Context: w}
	if p.k.tx != nil {
		p.k.tx.wroteOne()
	}
	p.cl.Produce(p.gctx, &w.rec, p.onWritten)
	return promise
}

// write is one record the producer writes, with what its acknowledgement
// needs, in one allocation: the franz-go record, its key's bytes when short,
// the sarama message goka's promise is finished with, and the finisher
// (a closure, a record, a key and a message were four allocations per
// write). It is the record's Context, the gate's, so that the producer's
// one callback ([kproducer.written]) finds it.
type write struct {
	context.Context // the gate's (kproducer.gctx)
	rec             kgo.Record
	keyBuf          [24]byte // rec.Key's bytes, for a key that fits
	key             string
	msg             sarama.ProducerMessage
	finish          goka.PromiseFinisher
}

// written is franz-go's callback of every write of EmitWithHeaders.
func (p *kproducer) written(r *kgo.Record, err error) {
	w := r.Context.(*write)
	// acks learns first: goka's callbacks on the promise store the
	// changelog offset, which must not cover a write local storage lacks.
	p.k.acks.done(r.Topic, w.key, r.Partition, err)
	if err != nil {
		p.k.deny(err, "WRITE", r.Topic, "write", false)
		p.fail(err)
		w.finish(nil, err)
		return
	}
	p.k.denials.clearWrite(r.Topic)
	w.msg = sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
	w.finish(&w.msg, nil)
}

// record returns the franz-go record of a goka write.
func record(topic, key string, value []byte, headers goka.Headers) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if r.Key == nil {
		r.Key = []byte{} // an empty key is a key: partitioned by its hash, as sarama does
	}
	r.Headers = recordHeaders(headers)
	return r
}

// recordHeaders returns goka's headers as franz-go's, nil for none.
func recordHeaders(headers goka.Headers) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for k, v := range headers {
		hs = append(hs, kgo.RecordHeader{Key: k, Value: v})
	}
	return hs
}

// fail trips the gate at the first failed write: records not on the wire
// fail, later emits fail at once. A refusal first makes suspects of the
// records in flight (see isolate.go): franz-go fails the refused batch
// whole, and every record buffered for its partition behind it.
func (p *kproducer) fail(err error) {
	if p.k.iso != nil && writeRefused(err) {
		p.k.iso.refused(err)
	}
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

// writeRefused reports whether err is a broker's refusal of a record that
// no retry changes (see [recordRefused], sarama's), as franz-go reports it.
func writeRefused(err error) bool {
	for _, k := range []*kerr.Error{kerr.InvalidRecord, kerr.MessageTooLarge, kerr.RecordListTooLarge,
		kerr.InvalidTimestamp, kerr.PolicyViolation, kerr.CorruptMessage} {
		if errors.Is(err, k) {
			return true
		}
	}
	return recordRefused(err)
}

// isolatedWrite sends a write of the isolated record r through the solo
// client, which sends one record per request, and returns the promise goka
// waits for. A refusal finishes it without an error, so goka goes on, and r
// reports it; any other failure trips the gate and finishes it with the
// error.
func (p *kproducer) isolatedWrite(r *isolated, topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	solo, err := p.soloClient()
	if err != nil {
		p.fail(err)
		return failed(fmt.Errorf("%w: %w", ErrWriteFailed, err))
	}
	promise, finish := goka.NewPromiseWithFinisher()
	r.sent()
	solo.Produce(context.Background(), record(topic, key, value, headers), func(rec *kgo.Record, err error) {
		p.k.acks.done(topic, key, rec.Partition, err)
		switch {
		case err == nil:
			r.done(nil)
			finish(&sarama.ProducerMessage{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp}, nil)
		case writeRefused(err):
			r.done(fmt.Errorf("%w: %s: %w", ErrRefused, topic, err))
			finish(nil, nil)
		default:
			p.k.deny(err, "WRITE", topic, "write", false)
			p.fail(err)
			r.done(fmt.Errorf("%w: %s: %w", ErrWriteFailed, topic, err))
			finish(nil, err)
		}
	})
	return promise
}

// soloClient returns the client of isolated writes, built at the first: it
// buffers one record at a time, so each goes in a request of its own.
func (p *kproducer) soloClient() (*kgo.Client, error) {
	p.soloMu.Lock()
	defer p.soloMu.Unlock()
	if p.solo == nil {
		opts, err := kgoCommonOpts(p.k.brokers, p.k.cfg, p.k.cfg.ClientID+"-isolated")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgoProducerOpts(p.k.cfg, p.k.hasher, false)...)
		opts = append(opts, kgo.MaxBufferedRecords(1))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, err
		}
		p.solo = cl
	}
	return p.solo, nil
}

// failed returns a promise finished with err.
func failed(err error) *goka.Promise {
	_, finish := goka.NewPromiseWithFinisher()
	return finish(nil, err)
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
		p.soloMu.Lock()
		if p.solo != nil {
			p.solo.Close()
		}
		p.soloMu.Unlock()
		p.k.release()
	})
	return nil
}

var _ goka.Producer = (*kproducer)(nil)
