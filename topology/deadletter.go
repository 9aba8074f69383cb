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
	// HeaderCause is one of "decode", "handler", "panic" or "route".
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
	}
	return "handler"
}

// deadLetter sends the record to the agent's dead-letter topic. If even that
// fails, the record is aborted: not committed, so it is read again after restart.
func deadLetter(rt *agentRuntime, m msg, value []byte, cause error, attempts int) {
	h := maps.Clone(m.Headers())
	if h == nil {
		h = map[string][]byte{}
	}
	h[HeaderError] = []byte(cause.Error())
	h[HeaderCause] = []byte(Cause(cause))
	h[HeaderTopic] = []byte(m.Topic())
	h[HeaderPartition] = strconv.AppendInt(nil, int64(m.Partition()), 10)
	h[HeaderOffset] = strconv.AppendInt(nil, m.Offset(), 10)
	h[HeaderAgent] = []byte(rt.name)
	h[HeaderTime] = []byte(rt.now().UTC().Format(time.RFC3339Nano))
	h[HeaderAttempts] = strconv.AppendInt(nil, int64(attempts), 10)
	if err := m.Emit(rt.dlq, m.Key(), value, h); err != nil {
		m.Abort(fmt.Errorf("agent %q: dead-letter %s/%d@%d: %w", rt.name, m.Topic(), m.Partition(), m.Offset(), err))
		return
	}
	n := rt.deadLettered.Add(1)
	if n == 1 || n%1000 == 0 { // not one line per bad record: a flood would drown the log
		rt.log.Warn("record dead-lettered", "topic", m.Topic(), "partition", m.Partition(),
			"offset", m.Offset(), "key", m.Key(), "cause", Cause(cause), "error", cause, "dead_lettered", n)
	}
}
