package topology_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestTracingThroughTimer sets a wall-clock timer and a stream timer from
// handlings of records of two traces, on the broker: each timer handler's
// span is a child of the span of the handling that set its timer, in that
// trace, although the wall-clock timer's fire record comes from the
// scheduler and the stream timer's from the handling of a later record of a
// third trace, which moves stream time past it; the timer handler's output
// carries its span.
func TestTracingThroughTimer(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	exp, tp := inMemoryTracing(t)
	in := topology.Stream[string]{Name: "in", Codec: topology.String()}
	out := topology.Stream[string]{Name: "out", Codec: topology.String()}
	agent := topology.Agent[struct{}]{
		Name: "timed",
		Inputs: []topology.Input[struct{}]{topology.Consume(in,
			func(c *topology.Context[struct{}], _ string, v string) error {
				switch v {
				case "wall":
					return c.SetTimer(topology.Timer{Name: v, At: c.Now()})
				case "stream":
					return c.SetTimer(topology.Timer{Name: v, At: c.Timestamp().Add(time.Second), Stream: true})
				}
				return nil // a tick: it only moves stream time
			})},
		Outputs: []topology.Topic{out},
		OnTimer: func(c *topology.Context[struct{}], key string, tm topology.Timer) error {
			return topology.Emit(c, out, key, tm.Name)
		},
	}
	// One partition: the tick moves the stream timer's partition's time.
	g := &topology.Graph{Name: "timed", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out},
		Agents: []topology.AgentDecl{agent}, Partitions: 1}
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Tracing(tp)}
	roots := writeInRoots(t, g, in, tp, opts, "wall", "stream")
	// The tick, 10 minutes after the others by its timestamp, in a trace of its own.
	ctx, tickRoot := tp.Tracer("test").Start(t.Context(), "root tick")
	tickRoot.End()
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	tick := &kgo.Record{Key: []byte("tick"), Value: []byte("tick"), Timestamp: time.Now().Add(10 * time.Minute)}
	for k, v := range carrier {
		tick.Headers = append(tick.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	kafkatest.Produce(t, addrs, in.Name, tick)

	running(t, g, opts...)
	outRecs := map[string]*kgo.Record{}
	for _, r := range kafkatest.ConsumeN(t, addrs, out.Name, 2) {
		outRecs[string(r.Key)] = r
	}
	// A handling's span ends after its writes were handed on: wait for the
	// three input handlings' and the two timer handlings'.
	waitUntil(t, 30*time.Second, "5 agent spans", func() bool { return len(exp.GetSpans()) >= 3+5 })

	set, fired := map[string]tracetest.SpanStub{}, map[string]tracetest.SpanStub{} // by key
	for _, s := range exp.GetSpans() {
		if s.Name != "timed" {
			continue
		}
		var key, topic string
		for _, a := range s.Attributes {
			switch a.Key {
			case "messaging.kafka.message.key":
				key = a.Value.AsString()
			case "messaging.destination.name":
				topic = a.Value.AsString()
			}
		}
		switch topic {
		case in.Name:
			set[key] = s
		case topology.LoopName("timed"):
			fired[key] = s
		default:
			t.Errorf("span of a handling of %s/%s, want only %s and %s", topic, key, in.Name, topology.LoopName("timed"))
		}
	}
	for _, v := range []string{"wall", "stream"} {
		root, setter, timer := roots[v], set[v], fired[v]
		if !setter.SpanContext.IsValid() || !timer.SpanContext.IsValid() {
			t.Fatalf("%s: spans of the setting handling %v and of the timer handler %v, want both", v,
				setter.SpanContext.SpanID(), timer.SpanContext.SpanID())
		}
		if timer.SpanContext.TraceID() != root.TraceID() {
			t.Errorf("%s: the timer handler's span is in trace %s, want the setter's %s (the tick's is %s)", v,
				timer.SpanContext.TraceID(), root.TraceID(), tickRoot.SpanContext().TraceID())
		}
		if timer.Parent.SpanID() != setter.SpanContext.SpanID() {
			t.Errorf("%s: the timer handler's parent = %s, want the span of the handling that set the timer, %s", v,
				timer.Parent.SpanID(), setter.SpanContext.SpanID())
		}
		if r := outRecs[v]; r == nil {
			t.Errorf("%s: no output of its timer handler", v)
		} else if tid, sid := traceparent(t, r); tid != timer.SpanContext.TraceID().String() || sid != timer.SpanContext.SpanID().String() {
			t.Errorf("%s: output carries %s/%s, want the timer handler's span %s/%s", v, tid, sid,
				timer.SpanContext.TraceID(), timer.SpanContext.SpanID())
		}
	}
}
