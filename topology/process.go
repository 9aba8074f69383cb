package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// agentRuntime is what the handlers of one running agent share.
type agentRuntime struct {
	name        string
	group       string               // the consumer group (see agentSpec.group)
	table       string               // TableName(group), named once rather than per record
	timersTopic string               // the timers topic, "" without OnTimer
	moved       map[string]string    // internal names moved into the graph's namespace
	outputs     map[string]topicSpec // declared outputs by name, the dead-letter topic included
	dlq         string
	retries     int
	backoff     time.Duration
	log         *slog.Logger
	now         func() time.Time

	processed    atomic.Int64
	deadLettered atomic.Int64

	// async is the in-flight work of asynchronous inputs during one run of the
	// processor; set by runOnce before the processor starts, nil in the harness.
	async *asyncRun
	// timers is the agent's timers during one run of the processor (set by
	// runOnce, or once by the harness); nil for an agent without OnTimer.
	timers *timerRun

	// maxRecord is the largest record the agent's producer may send (see
	// checkSize), 0 for no limit.
	maxRecord int

	// suspects are the records a refused produce batch left to be written
	// one by one by the next run of the processor (see [ErrRefused]).
	suspects gokax.Suspects
	// denials time the cluster's ACL denials of the agent across its
	// processors' runs: a denied write fails each run.
	denials gokax.Denials

	metrics *agentMetrics
	tracer  *spanTracer // nil when tracing is off
}

func newAgentRuntime(a agentSpec, c *runConfig) *agentRuntime {
	rt := &agentRuntime{
		name:    a.name,
		group:   a.group,
		table:   TableName(a.group),
		moved:   a.moved,
		outputs: map[string]topicSpec{a.dlq.name: a.dlq},
		dlq:     a.dlq.name,
		retries: c.retries,
		backoff: c.retryBackoff,
		log:     c.logger.With("agent", a.name),
		now:     time.Now,
		metrics: newAgentMetrics(a, c),
	}
	if a.timers != nil {
		rt.timersTopic = a.timers.name
	}
	rt.maxRecord = c.kafka.Producer.MaxMessageBytes
	if c.tracer != nil {
		rt.tracer = &spanTracer{tracer: c.tracer, name: a.name}
	}
	for _, o := range a.outputs {
		rt.outputs[o.name] = o
	}
	return rt
}

// newGroupDef turns an agent into the untyped group gokax runs.
func newGroupDef[S any](a Agent[S], rt *agentRuntime) gokax.Group {
	g := gokax.Group{Name: rt.group, Stateful: a.State != nil}
	applies := map[string]Input[S]{} // asynchronous inputs' apply handlers, by input topic
	for _, in := range a.Inputs {
		handle := func(m *gokax.Msg, v []byte) {
			if awaitTimers(rt, m) {
				process(rt, a.State, in, m, v)
				advanceStream(rt, m)
			}
		}
		if in.async != nil {
			handle = func(m *gokax.Msg, v []byte) {
				if awaitTimers(rt, m) {
					submit(rt, in.async, m, v)
					advanceStream(rt, m)
				}
			}
			applies[in.topic.name] = Input[S]{topic: in.topic, handle: in.async.apply}
		}
		g.Inputs = append(g.Inputs, gokax.Input{Topic: in.topic.name, Handle: handle})
	}
	if len(applies) > 0 || a.OnTimer != nil {
		g.Loop = func(m *gokax.Msg, v []byte) {
			if !awaitTimers(rt, m) {
				return
			}
			if a.OnTimer != nil && m.Headers()[HeaderTimerOp] != nil {
				timerRecord(rt, a.State, a.OnTimer, m, v)
				return
			}
			in, ok := applies[string(m.Headers()[headerInput])]
			if !ok {
				deadLetter(rt, m, v, fmt.Errorf("loop record names input %q, which the agent does not have: %w",
					m.Headers()[headerInput], ErrPermanent), 0)
				return
			}
			process(rt, a.State, in, loopRecord{m}, v)
		}
	}
	for name := range rt.outputs {
		g.Outputs = append(g.Outputs, name)
	}
	if a.OnTimer != nil {
		g.Outputs = append(g.Outputs, rt.timersTopic)
	}
	for _, t := range a.Lookups {
		g.Lookups = append(g.Lookups, rt.topic(t.TopicName()))
	}
	for _, t := range a.Joins {
		g.Joins = append(g.Joins, rt.topic(t.TopicName()))
	}
	return g
}

// topic returns the name on the cluster of the topic the agent's
// declarations name name: name itself unless it is an internal name of the
// graph moved into its application's namespace.
func (rt *agentRuntime) topic(name string) string {
	if n, ok := rt.moved[name]; ok {
		return n
	}
	return name
}

// groupDef is the untyped group an agent becomes at run time.
type groupDef = gokax.Group

// msg is what process needs of a record beyond the handler's view.
type msg interface {
	record
	Abort(err error)
}

// outcome is how process finished with a record.
type outcome int

const (
	outcomeProcessed    outcome = iota // the handler succeeded and its effects were applied
	outcomeDeadLettered                // the record went to the dead-letter topic
	outcomeAborted                     // not handled: the record is read again
)

// process handles one record: decode, call the handler, retry a failed call, and
// dead-letter the record when it cannot succeed. Only a shutdown during a retry
// leaves it unprocessed (and uncommitted, so it is read again).
func process[S any](rt *agentRuntime, state Codec[S], in Input[S], m msg, value []byte) outcome {
	start := time.Now()
	ctx, span, trace := rt.tracer.start(m.Context(), m.Headers(), m.Topic(), m.Partition(), m.Offset(), m.Key())
	var err error
	handled := true // false if aborted: the record is read again
	defer func() {
		if handled {
			rt.metrics.latency.Observe(time.Since(start).Seconds())
			rt.metrics.counted(in.topic.name)
		}
		endSpan(span, err)
	}()
	attempts := 0
	for {
		attempts++
		c := newContext(m, rt, state)
		c.Context, c.trace = ctx, trace
		err = call(func() error { return in.handle(c, value) })
		if err == nil {
			err = c.err
		}
		if err == nil {
			if err = c.commit(); err == nil {
				rt.processed.Add(1)
				return outcomeProcessed
			}
			if errors.Is(err, gokax.ErrWriteFailed) {
				// Not the record's fault, and not retried: the processor stops
				// and its replay writes the record again.
				handled = false
				m.Abort(fmt.Errorf("agent %q: %s/%d@%d: %w", rt.name, m.Topic(), m.Partition(), m.Offset(), err))
				return outcomeAborted
			}
		}
		if !retryable(err) || attempts > rt.retries {
			break
		}
		if !sleep(m.Context(), rt.retryWait(attempts)) {
			handled = false
			m.Abort(fmt.Errorf("agent %q: stopped while retrying %s/%d@%d: %w", rt.name, m.Topic(), m.Partition(), m.Offset(), err))
			return outcomeAborted
		}
	}
	if !deadLetterTraced(rt, m, value, err, attempts, trace) {
		return outcomeAborted
	}
	return outcomeDeadLettered
}

// maxRetryWait caps the doubling wait between handler retries.
const maxRetryWait = 10 * time.Second

// retryWait returns the wait after the attempts-th failed call: the backoff,
// doubled per attempt, at most maxRetryWait (and never a shift that overflows).
func (rt *agentRuntime) retryWait(attempts int) time.Duration {
	d := rt.backoff
	for i := 1; i < attempts && d < maxRetryWait; i++ {
		d *= 2
	}
	return min(d, maxRetryWait)
}

// call runs f, turning a panic into a *PanicError.
func call(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return f()
}

// retryable reports whether calling the handler again may succeed: a bad value, a
// panic, a routing mistake (an emit, lookup or join of an undeclared topic), a
// write the broker refused for good, or an error marked [ErrPermanent] (a
// record too large, too) fails the same way every time.
func retryable(err error) bool {
	var de *DecodeError
	var pe *PanicError
	switch {
	case errors.As(err, &de), errors.As(err, &pe),
		errors.Is(err, ErrUndeclaredOutput), errors.Is(err, ErrCodecMismatch),
		errors.Is(err, gokax.ErrRefused),
		errors.Is(err, gokax.ErrUndeclared),
		errors.Is(err, ErrStateless), errors.Is(err, ErrPermanent),
		errors.Is(err, errNoTimerIndex):
		return false
	}
	return true
}

// sleep waits d or until ctx is done; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
