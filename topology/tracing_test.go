package topology_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// traceChain is two agents, "first" (in -> mid) and "second" (mid -> out);
// second fails the value "bad" for good, so that it is dead-lettered.
func traceChain() (*topology.Graph, topology.Stream[string]) {
	in := topology.Stream[string]{Name: "in", Codec: topology.String()}
	mid := topology.Stream[string]{Name: "mid", Codec: topology.String()}
	out := topology.Stream[string]{Name: "out", Codec: topology.String()}
	first := topology.Agent[struct{}]{
		Name: "first",
		Inputs: []topology.Input[struct{}]{topology.Consume(in,
			func(c *topology.Context[struct{}], key string, v string) error {
				return topology.Emit(c, mid, key, v)
			})},
		Outputs: []topology.Topic{mid},
	}
	second := topology.Agent[struct{}]{
		Name: "second",
		Inputs: []topology.Input[struct{}]{topology.Consume(mid,
			func(c *topology.Context[struct{}], key string, v string) error {
				if v == "bad" {
					return fmt.Errorf("refuse %q: %w", v, topology.ErrPermanent)
				}
				return topology.Emit(c, out, key, v)
			})},
		Outputs: []topology.Topic{out},
	}
	return &topology.Graph{
		Name: "traced", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out},
		Agents: []topology.AgentDecl{first, second}, Partitions: 2,
	}, in
}

// traceparent returns the span context in the traceparent header of r.
func traceparent(t *testing.T, r *kgo.Record) (traceID, spanID string) {
	t.Helper()
	for _, h := range r.Headers {
		if h.Key == topology.HeaderTraceparent {
			// version-traceid-spanid-flags
			parts := strings.Split(string(h.Value), "-")
			if len(parts) != 4 {
				t.Fatalf("traceparent %q: want 4 dash-separated parts", h.Value)
			}
			return parts[1], parts[2]
		}
	}
	t.Fatalf("record %s=%s has no traceparent header (headers %v)", r.Key, r.Value, r.Headers)
	return "", ""
}

// inMemoryTracing returns a tracer provider that exports every span to the
// returned exporter at once, shut down when t ends.
func inMemoryTracing(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return exp, tp
}

// writeInRoots provisions g with opts (its brokers first) and writes each of
// values to in, keyed by itself, from an emitter inside a root span of its
// own; it returns the root spans by value.
func writeInRoots(t *testing.T, g *topology.Graph, in topology.Stream[string], tp trace.TracerProvider, opts []topology.Option, values ...string) map[string]trace.SpanContext {
	t.Helper()
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	em, err := topology.NewEmitter(in, opts[0])
	if err != nil {
		t.Fatalf("NewEmitter: %v", err)
	}
	roots := map[string]trace.SpanContext{}
	for _, v := range values {
		ctx, root := tp.Tracer("test").Start(t.Context(), "root "+v)
		if err := em.Write(ctx, v, v); err != nil {
			t.Fatalf("Write: %v", err)
		}
		root.End()
		roots[v] = root.SpanContext()
	}
	if err := em.Close(); err != nil {
		t.Fatalf("Close emitter: %v", err)
	}
	return roots
}

// TestTracingThroughChain emits two records from an Emitter inside two root
// spans and runs them through a two-agent chain on the broker with an
// in-memory exporter. Each record's journey is one trace: first's span is a
// child of the root, second's a child of first's, the output record carries
// second's span, and the record second gives up on goes to the dead-letter
// topic carrying second's span, which is marked failed.
func TestTracingThroughChain(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	exp, tp := inMemoryTracing(t)
	g, in := traceChain()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Tracing(tp)}
	roots := writeInRoots(t, g, in, tp, opts, "good", "bad")

	running(t, g, opts...)
	outRec := kafkatest.ConsumeN(t, addrs, "out", 1)[0]
	dead := kafkatest.ConsumeN(t, addrs, topology.DeadLetterName("second"), 1)[0]
	// second's span ends after its writes were handed to goka: wait for it.
	waitUntil(t, 30*time.Second, "4 agent spans", func() bool { return len(exp.GetSpans()) >= 6 })

	spans := map[string]tracetest.SpanStub{} // by agent and key
	for _, s := range exp.GetSpans() {
		if s.Name == "first" || s.Name == "second" {
			var key string
			for _, a := range s.Attributes {
				if a.Key == "messaging.kafka.message.key" {
					key = a.Value.AsString()
				}
			}
			spans[s.Name+"/"+key] = s
		}
	}
	for _, v := range []string{"good", "bad"} {
		root, first, second := roots[v], spans["first/"+v], spans["second/"+v]
		if first.SpanContext.TraceID() != root.TraceID() || second.SpanContext.TraceID() != root.TraceID() {
			t.Errorf("%s: traces root %s, first %s, second %s; want one trace", v,
				root.TraceID(), first.SpanContext.TraceID(), second.SpanContext.TraceID())
		}
		if first.Parent.SpanID() != root.SpanID() {
			t.Errorf("%s: first's parent = %s, want the root span %s", v, first.Parent.SpanID(), root.SpanID())
		}
		if second.Parent.SpanID() != first.SpanContext.SpanID() {
			t.Errorf("%s: second's parent = %s, want first's span %s", v, second.Parent.SpanID(), first.SpanContext.SpanID())
		}
	}
	for _, tc := range []struct {
		what string
		rec  *kgo.Record
		key  string
	}{{"output", outRec, "good"}, {"dead letter", dead, "bad"}} {
		tid, sid := traceparent(t, tc.rec)
		want := spans["second/"+tc.key].SpanContext
		if tid != want.TraceID().String() || sid != want.SpanID().String() {
			t.Errorf("%s carries %s/%s, want second's span %s/%s", tc.what, tid, sid, want.TraceID(), want.SpanID())
		}
	}
	if s := spans["second/bad"]; s.Status.Code.String() != "Error" || len(s.Events) == 0 {
		t.Errorf("second's span of the bad record: status %v, %d events; want Error with the error recorded", s.Status, len(s.Events))
	}
	if s := spans["second/good"]; s.Status.Code.String() == "Error" {
		t.Errorf("second's span of the good record: status %v, want not an error", s.Status)
	}
}

// TestTraceContextPassesThroughUntraced pins the default (no Tracing option):
// no spans, and an agent passes the trace context of its input on unchanged,
// so agents traced downstream stay in the caller's trace.
func TestTraceContextPassesThroughUntraced(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	g, in := traceChain()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir())}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, root := tp.Tracer("test").Start(t.Context(), "root")
	defer root.End()
	em, err := topology.NewEmitter(in, topology.Brokers(addrs...))
	if err != nil {
		t.Fatalf("NewEmitter: %v", err)
	}
	if err := errors.Join(em.Write(ctx, "k", "good"), em.Write(t.Context(), "plain", "good"), em.Close()); err != nil {
		t.Fatalf("emit: %v", err)
	}
	running(t, g, opts...)
	for _, r := range kafkatest.ConsumeN(t, addrs, "out", 2) {
		if string(r.Key) == "plain" {
			if len(r.Headers) != 0 {
				t.Errorf("untraced record got headers %v, want none", r.Headers)
			}
			continue
		}
		tid, sid := traceparent(t, r)
		if tid != root.SpanContext().TraceID().String() || sid != root.SpanContext().SpanID().String() {
			t.Errorf("output carries %s/%s, want the root's %s/%s", tid, sid, root.SpanContext().TraceID(), root.SpanContext().SpanID())
		}
	}
}

// TestTracingThroughAsync runs a record through an asynchronous input: the
// work's span is a child of the emitter's, and runs in a ctx that carries it
// (so the work's own calls join the trace); the apply handler's span, reached
// through the loop topic, is a child of the work's; the output carries the
// apply span.
func TestTracingThroughAsync(t *testing.T) {
	for _, concurrency := range []int{1, 4} { // inline, and through the producer
		t.Run(fmt.Sprintf("concurrency=%d", concurrency), func(t *testing.T) {
			addrs := kafkatest.Start(t).Addrs()
			exp, tp := inMemoryTracing(t)
			in := topology.Stream[string]{Name: "in", Codec: topology.String()}
			out := topology.Stream[string]{Name: "out", Codec: topology.String()}
			workSpan := make(chan trace.SpanContext, 1)
			agent := topology.Agent[struct{}]{
				Name: "async",
				Inputs: []topology.Input[struct{}]{topology.ConsumeAsync(in, concurrency, topology.String(),
					func(ctx context.Context, _ string, v string) (string, error) {
						workSpan <- trace.SpanContextFromContext(ctx)
						return v, nil
					},
					func(c *topology.Context[struct{}], key string, v string) error {
						return topology.Emit(c, out, key, v)
					})},
				Outputs: []topology.Topic{out},
			}
			g := &topology.Graph{Name: "async", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out},
				Agents: []topology.AgentDecl{agent}, Partitions: 1}
			opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Tracing(tp)}
			if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
				t.Fatalf("Provision: %v", err)
			}
			em, err := topology.NewEmitter(in, topology.Brokers(addrs...))
			if err != nil {
				t.Fatalf("NewEmitter: %v", err)
			}
			ctx, root := tp.Tracer("test").Start(t.Context(), "root")
			if err := errors.Join(em.Write(ctx, "k", "v"), em.Close()); err != nil {
				t.Fatalf("emit: %v", err)
			}
			root.End()
			running(t, g, opts...)
			outRec := kafkatest.ConsumeN(t, addrs, "out", 1)[0]
			waitUntil(t, 30*time.Second, "the work and apply spans", func() bool { return len(exp.GetSpans()) >= 3 })

			var work, apply tracetest.SpanStub
			for _, s := range exp.GetSpans() {
				switch {
				case s.Name != "async":
				case s.Parent.SpanID() == root.SpanContext().SpanID():
					work = s
				default:
					apply = s
				}
			}
			if !work.SpanContext.IsValid() || work.SpanContext.TraceID() != root.SpanContext().TraceID() {
				t.Fatalf("no work span in the root's trace among %d spans", len(exp.GetSpans()))
			}
			if got := <-workSpan; got.SpanID() != work.SpanContext.SpanID() {
				t.Errorf("work ran in span %s, want its own span %s", got.SpanID(), work.SpanContext.SpanID())
			}
			if apply.Parent.SpanID() != work.SpanContext.SpanID() || apply.SpanContext.TraceID() != root.SpanContext().TraceID() {
				t.Errorf("apply span %s has parent %s in trace %s, want parent %s (the work's) in %s", apply.SpanContext.SpanID(),
					apply.Parent.SpanID(), apply.SpanContext.TraceID(), work.SpanContext.SpanID(), root.SpanContext().TraceID())
			}
			if tid, sid := traceparent(t, outRec); tid != apply.SpanContext.TraceID().String() || sid != apply.SpanContext.SpanID().String() {
				t.Errorf("output carries %s/%s, want the apply span %s/%s", tid, sid, apply.SpanContext.TraceID(), apply.SpanContext.SpanID())
			}
		})
	}
}
