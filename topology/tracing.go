package topology

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Headers of W3C trace context (https://www.w3.org/TR/trace-context/), carried by
// every record an [Emitter] writes from a traced context and by every record an
// agent writes while handling a traced one.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Tracing sets the OpenTelemetry tracer provider, overriding the default: no
// spans. With it, each handling of a record by an agent is a span named after the
// agent, a child of the span whose context the record's headers carry, and every
// record the handling writes (outputs, loop records, dead letters) carries the new
// span's context; an [Emitter] writes the context of the ctx passed to Write. So
// one record's journey through the graph is one trace.
//
// Without it, an agent still passes a record's trace context on to what it
// writes, unchanged, so that traced agents downstream stay in the same trace;
// records without trace headers cost one header check.
func Tracing(tp trace.TracerProvider) Option {
	return option("Tracing", forRun, func(c *runConfig) {
		c.tracer = nil
		if tp != nil {
			c.tracer = tp.Tracer("github.com/sluicehq/sluice/topology")
		}
	})
}

// propagator reads and writes W3C trace context; sluice does not use the global
// otel propagator, which a program may have set to something else.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// headerCarrier adapts record headers to otel's TextMapCarrier.
type headerCarrier map[string][]byte

func (h headerCarrier) Get(key string) string { return string(h[key]) }
func (h headerCarrier) Set(key, value string) { h[key] = []byte(value) }
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// traceHeaders returns the trace context of ctx as record headers, nil if ctx
// carries none.
func traceHeaders(ctx context.Context) map[string][]byte {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := make(headerCarrier, 2)
	propagator.Inject(ctx, h)
	return h
}

// spanTracer starts the spans of one agent's handlings; nil when tracing is off.
type spanTracer struct {
	tracer trace.Tracer
	name   string
}

// start begins the handling of the record at topic/partition@offset with
// headers src. It returns the context the handler runs in, the span to end when
// the handling is over (nil when tracing is off) and the trace headers for
// every record the handling writes (nil if there is no trace).
//
// With tracing off, the record's own trace headers are passed on as they are; a
// record without them costs one map lookup.
func (t *spanTracer) start(ctx context.Context, src map[string][]byte, topic string, partition int32, offset int64, key string) (context.Context, trace.Span, map[string][]byte) {
	if t == nil || t.tracer == nil {
		tp := src[HeaderTraceparent]
		if tp == nil {
			return ctx, nil, nil
		}
		h := map[string][]byte{HeaderTraceparent: tp}
		if ts := src[HeaderTracestate]; ts != nil {
			h[HeaderTracestate] = ts
		}
		return propagator.Extract(ctx, headerCarrier(src)), nil, h
	}
	if src[HeaderTraceparent] != nil {
		ctx = propagator.Extract(ctx, headerCarrier(src))
	}
	ctx, span := t.tracer.Start(ctx, t.name,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", topic),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(int(partition))),
			attribute.Int64("messaging.kafka.offset", offset),
			attribute.String("messaging.kafka.message.key", key),
			attribute.String("sluice.agent", t.name),
		))
	return ctx, span, traceHeaders(ctx)
}

// endSpan ends span, if any, marking it failed with err if err is not nil.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, Cause(err))
	}
	span.End()
}

// withTrace returns h with the trace headers trace added (h itself if trace is
// empty). h is not modified.
func withTrace(h, trace map[string][]byte) map[string][]byte {
	if len(trace) == 0 {
		return h
	}
	if len(h) == 0 {
		return trace
	}
	out := make(map[string][]byte, len(h)+len(trace))
	for k, v := range h {
		out[k] = v
	}
	for k, v := range trace {
		out[k] = v
	}
	return out
}
