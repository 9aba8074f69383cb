package topology

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// Work is the slow part of an asynchronous input (see [ConsumeAsync]): a model
// call, a remote check. It may run concurrently with the work of other records and
// must not touch the agent's state; ctx is done when the agent stops.
type Work[In, R any] func(ctx context.Context, key string, in In) (R, error)

// Headers of a record of an agent's loop topic that carries the result of an
// asynchronous input: the input's topic, and the timestamp of the input
// record (milliseconds since the Unix epoch), which [Context.Timestamp]
// returns to the apply handler.
const (
	headerInput     = "sluice-input"
	headerTimestamp = "sluice-timestamp"
)

// ConsumeAsync returns an input of an agent that reads s and, for each record,
// runs work concurrently with other records (up to concurrency per partition;
// records of the same key one at a time, in order) and then calls apply with the
// result, in the order the results of each key were produced, with the agent's
// state and outputs as a [Handler] has them. apply's [Context.Timestamp] is
// the input record's, as a handler of it would see.
//
// goka handles a partition's records one at a time, so one slow call (hundreds of
// milliseconds for a model) would stall the partition. Here the result goes
// through the agent's loop topic ([LoopName]), where apply runs as a normal
// handler; the input record's offset is committed only after its result was
// written and every earlier record of the partition was too. A crash replays the
// records whose offsets were not committed: work may run twice for a record, so it
// should be safe to repeat (at-least-once, as everywhere).
//
// A work error is retried as a handler error is ([Retries]); after that, or for an
// undecodable record, the record goes to the dead-letter topic. concurrency <= 1
// runs work inline in goka's partition goroutine, which is also what the
// topologytest harness does.
func ConsumeAsync[In, R, S any](s Stream[In], concurrency int, result Codec[R], work Work[In, R], apply Handler[R, S]) Input[S] {
	loop := func(agent string) string { return LoopName(agent) }
	return Input[S]{
		topic: s.spec(),
		async: &asyncInput[S]{
			concurrency: max(concurrency, 1),
			work: func(ctx context.Context, key string, value []byte, partition int32, offset int64) ([]byte, error) {
				if s.Codec == nil || result == nil {
					return nil, &DecodeError{Topic: s.Name, Err: ErrNoCodec}
				}
				v, err := s.Codec.Decode(value)
				if err != nil {
					return nil, &DecodeError{Topic: s.Name, Partition: partition, Offset: offset, Err: err}
				}
				r, err := work(ctx, key, v)
				if err != nil {
					return nil, err
				}
				b, err := result.Encode(r)
				if err != nil {
					return nil, fmt.Errorf("encode result of %q: %w", key, ErrPermanent)
				}
				return b, nil
			},
			apply: func(c *Context[S], value []byte) error {
				r, err := result.Decode(value)
				if err != nil {
					return &DecodeError{Topic: loop(c.Agent()), Partition: c.Partition(), Offset: c.Offset(), Err: err}
				}
				return apply(c, c.Key(), r)
			},
		},
	}
}

// LoopName returns the loop topic of the agent named agent, through which the
// results of its asynchronous inputs pass: agent+"-loop", as goka names it.
func LoopName(agent string) string { return gokax.LoopTopic(agent) }

// asyncInput is the untyped core of an asynchronous input.
type asyncInput[S any] struct {
	concurrency int
	work        func(ctx context.Context, key string, value []byte, partition int32, offset int64) ([]byte, error)
	apply       func(c *Context[S], value []byte) error
}

// asyncMsg is what an asynchronous input needs of a record in its callback.
type asyncMsg interface {
	msg
	DeferCommit() func(error)
	Loopback(key string, value []byte, headers map[string][]byte)
}

// asyncRun holds the in-flight work of one run of an agent's processor.
type asyncRun struct {
	producer *gokax.Producer // nil: run work inline
	loop     string
	wg       sync.WaitGroup
	mu       sync.Mutex
	parts    map[int32]*partitionQueue
}

func (ar *asyncRun) partition(p int32, concurrency int) *partitionQueue {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	q := ar.parts[p]
	if q == nil {
		q = &partitionQueue{slots: make(chan struct{}, concurrency), tails: map[string]chan struct{}{}}
		ar.parts[p] = q
	}
	return q
}

// partitionQueue orders one partition's asynchronous records: per-key chains for
// the order of results, and the records in offset order for commits.
type partitionQueue struct {
	slots chan struct{} // a token per record in flight
	mu    sync.Mutex
	tails map[string]chan struct{} // per key, closed when its last record's result is written
	queue []*pending               // offset order
	err   error                    // the first failure: no later offset may be committed
}

type pending struct {
	commit func(error)
	done   bool
	err    error
}

// finish marks p done with err and releases, in offset order, the commits of
// every finished record at the head of the queue.
func (q *partitionQueue) finish(p *pending, err error) {
	q.mu.Lock()
	p.done, p.err = true, err
	var release []*pending
	for len(q.queue) > 0 && q.queue[0].done {
		head := q.queue[0]
		q.queue = q.queue[1:]
		if q.err == nil && head.err != nil {
			q.err = head.err
		}
		if q.err != nil && head.err == nil {
			head.err = fmt.Errorf("an earlier record of the partition failed: %w", q.err)
		}
		release = append(release, head)
	}
	q.mu.Unlock()
	for _, r := range release {
		r.commit(r.err)
	}
}

// submit handles one record of an asynchronous input in goka's callback.
func submit[S any](rt *agentRuntime, in *asyncInput[S], m asyncMsg, value []byte) {
	ar := rt.async
	if ar == nil || ar.producer == nil || in.concurrency <= 1 {
		submitInline(rt, in, m, value)
		return
	}
	ctx := m.Context()
	q := ar.partition(m.Partition(), in.concurrency)
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		m.Abort(ctx.Err())
		return
	}
	p := &pending{commit: m.DeferCommit()}
	key, topic, partition, offset, ts := m.Key(), m.Topic(), m.Partition(), m.Offset(), m.Timestamp()
	value = append([]byte(nil), value...)
	headers := maps.Clone(m.Headers())
	wctx, span, trace := rt.tracer.start(ctx, headers, topic, partition, offset, key)
	mine := make(chan struct{})
	q.mu.Lock()
	prev := q.tails[key]
	q.tails[key] = mine
	q.queue = append(q.queue, p)
	q.mu.Unlock()

	ar.wg.Add(1)
	go func() {
		defer ar.wg.Done()
		done := func(err error) {
			endSpan(span, err)
			q.mu.Lock()
			if q.tails[key] == mine {
				delete(q.tails, key)
			}
			q.mu.Unlock()
			close(mine)
			<-q.slots
			q.finish(p, err)
		}
		if prev != nil {
			select {
			case <-prev:
			case <-ctx.Done():
				done(ctx.Err())
				return
			}
		}
		res, attempts, err := runWork(wctx, rt, in, key, value, partition, offset)
		switch {
		case err != nil && ctx.Err() != nil:
			done(ctx.Err()) // stopping: leave the record uncommitted
		case err != nil:
			h := deadLetterHeaders(rt, headers, topic, partition, offset, err, attempts)
			maps.Copy(h, trace)
			ar.producer.Send(rt.dlq, key, value, h, func(perr error) {
				if perr == nil {
					rt.countDeadLetter(topic, partition, offset, key, err)
					rt.metrics.counted(topic)
				}
				done(perr)
			})
		default:
			h := maps.Clone(headers)
			if h == nil {
				h = map[string][]byte{}
			}
			maps.Copy(h, trace)
			setLoopHeaders(h, topic, ts)
			ar.producer.Send(ar.loop, key, res, h, done)
		}
	}()
}

// submitInline runs work in goka's partition goroutine and loops the result back.
func submitInline[S any](rt *agentRuntime, in *asyncInput[S], m asyncMsg, value []byte) {
	ctx := m.Context()
	wctx, span, trace := rt.tracer.start(ctx, m.Headers(), m.Topic(), m.Partition(), m.Offset(), m.Key())
	res, attempts, err := runWork(wctx, rt, in, m.Key(), value, m.Partition(), m.Offset())
	defer func() { endSpan(span, err) }()
	switch {
	case err != nil && ctx.Err() != nil:
		m.Abort(ctx.Err())
	case err != nil:
		deadLetterTraced(rt, m, value, err, attempts, trace)
		rt.metrics.counted(m.Topic())
	default:
		h := maps.Clone(m.Headers())
		if h == nil {
			h = map[string][]byte{}
		}
		maps.Copy(h, trace)
		setLoopHeaders(h, m.Topic(), m.Timestamp())
		m.Loopback(m.Key(), res, h)
	}
}

// setLoopHeaders sets on h, the headers of a loop record carrying a result
// of the asynchronous input on topic, the input's topic and ts, its record's
// timestamp.
func setLoopHeaders(h map[string][]byte, topic string, ts time.Time) {
	h[headerInput] = []byte(topic)
	h[headerTimestamp] = strconv.AppendInt(nil, ts.UnixMilli(), 10)
}

// loopRecord is a loop record carrying a result of an asynchronous input, as
// apply sees it: with the input record's timestamp, when the record has one.
type loopRecord struct {
	msg
}

// Timestamp returns the input record's timestamp, or the loop record's own
// if it carries none (one written before sluice carried it).
func (r loopRecord) Timestamp() time.Time {
	if ms, err := strconv.ParseInt(string(r.Headers()[headerTimestamp]), 10, 64); err == nil {
		return time.UnixMilli(ms)
	}
	return r.msg.Timestamp()
}

// runWork calls the work, retrying as process retries a handler.
func runWork[S any](ctx context.Context, rt *agentRuntime, in *asyncInput[S], key string, value []byte, partition int32, offset int64) (res []byte, attempts int, err error) {
	for {
		attempts++
		err = call(func() error {
			var werr error
			res, werr = in.work(ctx, key, value, partition, offset)
			return werr
		})
		if err == nil || !retryable(err) || attempts > rt.retries || ctx.Err() != nil {
			return res, attempts, err
		}
		if !sleep(ctx, rt.retryWait(attempts)) {
			return nil, attempts, err
		}
	}
}
