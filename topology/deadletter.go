package topology

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"
)

// Headers of a dead-letter record. The record keeps the original key, value and
// headers; these say why and where from.
const (
	// HeaderError is the error, as text.
	HeaderError = "sluice-error"
	// HeaderCause is one of "decode", "handler", "panic", "route", "size" or
	// "refused" (see [ErrRefused]).
	HeaderCause = "sluice-cause"
	// HeaderTopic, HeaderPartition and HeaderOffset locate the source record.
	HeaderTopic     = "sluice-source-topic"
	HeaderPartition = "sluice-source-partition"
	HeaderOffset    = "sluice-source-offset"
	// HeaderAgent names the agent that gave up on the record.
	HeaderAgent = "sluice-agent"
	// HeaderTime is when it gave up, RFC 3339 with nanoseconds, UTC.
	HeaderTime = "sluice-time"
	// HeaderAttempts is how many times the handler was called.
	HeaderAttempts = "sluice-attempts"
	// HeaderValueDropped is set, to the value's size in bytes, on a dead
	// letter whose value was left out because the record would not fit the
	// dead-letter topic (an input near the size limit plus these headers).
	// The source headers locate the original.
	HeaderValueDropped = "sluice-value-dropped"
)

// Cause names why a record was dead-lettered, the value of [HeaderCause].
func Cause(err error) string {
	var de *DecodeError
	var pe *PanicError
	switch {
	case errors.As(err, &de):
		return "decode"
	case errors.As(err, &pe):
		return "panic"
	case errors.Is(err, ErrUndeclaredOutput), errors.Is(err, ErrCodecMismatch):
		return "route"
	case errors.Is(err, ErrTooLarge):
		return "size"
	case errors.Is(err, ErrRefused):
		return "refused"
	}
	return "handler"
}

// deadLetterHeaders returns the headers of the dead letter of the record at
// topic/partition@offset with headers src.
func deadLetterHeaders(rt *agentRuntime, src map[string][]byte, topic string, partition int32, offset int64, cause error, attempts int) map[string][]byte {
	h := maps.Clone(src)
	if h == nil {
		h = map[string][]byte{}
	}
	h[HeaderError] = []byte(cause.Error())
	h[HeaderCause] = []byte(Cause(cause))
	h[HeaderTopic] = []byte(topic)
	h[HeaderPartition] = strconv.AppendInt(nil, int64(partition), 10)
	h[HeaderOffset] = strconv.AppendInt(nil, offset, 10)
	h[HeaderAgent] = []byte(rt.name)
	h[HeaderTime] = []byte(rt.now().UTC().Format(time.RFC3339Nano))
	h[HeaderAttempts] = strconv.AppendInt(nil, int64(attempts), 10)
	return h
}

// deadLetter sends the record to the agent's dead-letter topic. If even that
// fails, the record is aborted: not committed, so it is read again after restart.
func deadLetter(rt *agentRuntime, m msg, value []byte, cause error, attempts int) {
	_ = deadLetterTraced(rt, m, value, cause, attempts, nil)
}

// deadLetterTraced is deadLetter with the trace headers of the handling that gave
// up (see [Tracing]) in place of the record's own. It reports whether the dead
// letter was sent (false: the record was aborted).
func deadLetterTraced(rt *agentRuntime, m msg, value []byte, cause error, attempts int, trace map[string][]byte) bool {
	h := deadLetterHeaders(rt, m.Headers(), m.Topic(), m.Partition(), m.Offset(), cause, attempts)
	for k, v := range trace {
		h[k] = v
	}
	if rt.checkSize(rt.dlq, recordSize(m.Key(), value, h)) != nil {
		// Writing it would fail for good and the record be read again forever.
		h[HeaderValueDropped] = strconv.AppendInt(nil, int64(len(value)), 10)
		value = nil
	}
	err := m.Emit(rt.dlq, m.Key(), value, h)
	if err == nil {
		err = m.Settle()
	}
	if err != nil {
		m.Abort(fmt.Errorf("agent %q: dead-letter %s/%d@%d: %w", rt.name, m.Topic(), m.Partition(), m.Offset(), err))
		return false
	}
	rt.countDeadLetter(m.Topic(), m.Partition(), m.Offset(), m.Key(), cause)
	return true
}

// countDeadLetter counts a dead letter and logs the first and every 1000th: not one
// line per bad record, which a flood would drown the log in.
func (rt *agentRuntime) countDeadLetter(topic string, partition int32, offset int64, key string, cause error) {
	n := rt.deadLettered.Add(1)
	rt.metrics.agent.DeadLetter(Cause(cause))
	if n == 1 || n%1000 == 0 {
		rt.log.Warn("record dead-lettered", "topic", topic, "partition", partition,
			"offset", offset, "key", key, "cause", Cause(cause), "error", cause, "dead_lettered", n)
	}
}
