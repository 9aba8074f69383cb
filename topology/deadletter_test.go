package topology_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// touchCodec is Int64 counting how often a value equal to poison is decoded,
// which every attempt at the poison record does first.
type touchCodec struct {
	poison  []byte
	touches *atomic.Int64
}

func (touchCodec) Encode(v int64) ([]byte, error) { return topology.Int64().Encode(v) }

func (c touchCodec) Decode(b []byte) (int64, error) {
	if bytes.Equal(b, c.poison) {
		c.touches.Add(1)
	}
	return topology.Int64().Decode(b)
}

// Values the dead-letter agent fails on, one per cause; every other value is
// forwarded to its output.
const (
	failHandler = -1 // the handler returns an error, every time
	failPanic   = -2 // the handler panics
	failRoute   = -3 // the handler routes to a topic it did not declare
)

// deadLetterGraph is one agent, "dl", that forwards every value from "in" to
// "out" and fails on the values above. It emits before it fails, so that a
// leak of a failed record's buffered output would show in "out".
func deadLetterGraph(poison []byte, touches *atomic.Int64) (*topology.Graph, topology.Stream[int64]) {
	return deadLetterGraphNamed(func(s string) string { return s }, poison, touches)
}

// deadLetterGraphNamed is deadLetterGraph with its names passed through name.
func deadLetterGraphNamed(name func(string) string, poison []byte, touches *atomic.Int64) (*topology.Graph, topology.Stream[int64]) {
	in := topology.Stream[int64]{Name: name("in"), Codec: touchCodec{poison: poison, touches: touches}}
	out := topology.Stream[int64]{Name: name("out"), Codec: topology.Int64()}
	dl := topology.Agent[struct{}]{
		Name: name("dl"),
		Inputs: []topology.Input[struct{}]{topology.Consume(in,
			func(c *topology.Context[struct{}], key string, v int64) error {
				if err := topology.Emit(c, out, key, v); err != nil {
					return err
				}
				switch v {
				case failHandler:
					return errors.New("boom")
				case failPanic:
					panic("poison")
				case failRoute:
					_ = topology.EmitTo(c, "nowhere", key, v) // the error is ignored on purpose
				}
				return nil
			})},
		Outputs: []topology.Topic{out},
	}
	return &topology.Graph{
		Name:       "deadletter",
		Sources:    []topology.Topic{in},
		Sinks:      []topology.Topic{out},
		Agents:     []topology.AgentDecl{dl},
		Partitions: 2,
	}, out
}

// TestDeadLetter runs one poison record per cause through an agent, on the
// embedded broker and on Apache Kafka, between good records of the same key
// (so the same partition). The
// poison goes to dl-dlq once, with its key, value and headers and every sluice
// header; the good records after it are processed; the agent is never restarted;
// and a restarted Run does not read the poison again, because its offset was
// committed.
func TestDeadLetter(t *testing.T) {
	const retries = 2
	for _, tc := range []struct {
		cause    string
		poison   string
		attempts int
		err      func(in, agent string, partition int32, offset int64) string
	}{
		{"decode", "not-a-number", 1, func(in, _ string, p int32, o int64) string {
			_, err := topology.Int64().Decode([]byte("not-a-number"))
			return fmt.Sprintf("decode %s/%d@%d: %v", in, p, o, err)
		}},
		{"handler", strconv.Itoa(failHandler), retries + 1, func(string, string, int32, int64) string { return "boom" }},
		{"panic", strconv.Itoa(failPanic), 1, func(string, string, int32, int64) string { return "handler panicked: poison" }},
		{"route", strconv.Itoa(failRoute), 1, func(_, agent string, _ int32, _ int64) string {
			return fmt.Sprintf(`agent %q: emit to "nowhere": topology: emit to undeclared output`, agent)
		}},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
				addrs := b.Addrs()
				in, agent := b.Name("in"), b.Name("dl")
				var touches atomic.Int64
				g, out := deadLetterGraphNamed(b.Name, []byte(tc.poison), &touches)
				logger, logs := newLogRecorder()
				opts := []topology.Option{
					topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.WithLogger(logger),
					topology.Retries(retries), topology.RetryBackoff(time.Millisecond),
					topology.RestartBackoff(10*time.Millisecond, 100*time.Millisecond),
				}
				if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
					t.Fatalf("Provision: %v", err)
				}

				// 1 2 3 poison 4 5 6, all under key k.
				var recs []*kgo.Record
				for _, v := range []string{"1", "2", "3", tc.poison, "4", "5", "6"} {
					recs = append(recs, &kgo.Record{Topic: in, Key: []byte("k"), Value: []byte(v)})
				}
				recs[3].Headers = []kgo.RecordHeader{{Key: "trace-id", Value: []byte("t-42")}}
				if err := kafkatest.Client(t, addrs).ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				poison := recs[3]

				before := time.Now().UTC()
				stop := running(t, g, opts...)
				assertValues(t, kafkatest.ConsumeN(t, addrs, out.Name, 6), 1, 2, 3, 4, 5, 6)
				dead := kafkatest.ConsumeN(t, addrs, topology.DeadLetterName(agent), 1)[0]
				after := time.Now().UTC()

				if string(dead.Key) != "k" || string(dead.Value) != tc.poison {
					t.Errorf("dead letter = %s=%q, want k=%q", dead.Key, dead.Value, tc.poison)
				}
				h := map[string]string{}
				for _, rh := range dead.Headers {
					h[rh.Key] = string(rh.Value)
				}
				for name, want := range map[string]string{
					"trace-id":               "t-42",
					topology.HeaderError:     tc.err(in, agent, poison.Partition, poison.Offset),
					topology.HeaderCause:     tc.cause,
					topology.HeaderTopic:     in,
					topology.HeaderPartition: strconv.Itoa(int(poison.Partition)),
					topology.HeaderOffset:    strconv.FormatInt(poison.Offset, 10),
					topology.HeaderAgent:     agent,
					topology.HeaderAttempts:  strconv.Itoa(tc.attempts),
				} { // HeaderTime is checked below
					if got, ok := h[name]; !ok || got != want {
						t.Errorf("dead letter header %s = %q (present %v), want %q", name, got, ok, want)
					}
				}
				if len(h) != 9 {
					t.Errorf("dead letter has headers %q, want the source's trace-id and the 8 sluice headers", h)
				}
				at, err := time.Parse(time.RFC3339Nano, h[topology.HeaderTime])
				if err != nil || at.Location() != time.UTC || at.Before(before) || at.After(after) {
					t.Errorf("dead letter header %s = %q (%v), want UTC RFC 3339 between %v and %v",
						topology.HeaderTime, h[topology.HeaderTime], err, before, after)
				}
				if got := touches.Load(); got != int64(tc.attempts) {
					t.Errorf("poison decoded %d times, want %d (one per attempt)", got, tc.attempts)
				}
				dl := logs.find("record dead-lettered")
				if len(dl) != 1 || attr(dl[0], "cause") != tc.cause {
					t.Errorf("logged %d 'record dead-lettered' lines (%v), want 1 with cause %s", len(dl), dl, tc.cause)
				}
				stop()

				// The poison's offset is committed: a restarted Run goes on after it.
				waitCommitted(t, addrs, agent, in, 10*time.Second)
				stop = running(t, g, opts...)
				kafkatest.Produce(t, addrs, in, &kgo.Record{Key: []byte("k"), Value: []byte("7")})
				assertValues(t, kafkatest.ConsumeN(t, addrs, out.Name, 7), 1, 2, 3, 4, 5, 6, 7)
				stop()
				if got := touches.Load(); got != int64(tc.attempts) {
					t.Errorf("poison decoded %d times after the restart, want still %d: it was read again", got, tc.attempts)
				}
				if got := len(kafkatest.ConsumeAll(t, addrs, topology.DeadLetterName(agent))); got != 1 {
					t.Errorf("dead-letter topic has %d records after the restart, want 1", got)
				}
				if r := logs.find("agent failed; restarting"); len(r) != 0 {
					t.Errorf("agent restarted %d times (first: %s), want never: the poison must not crash it", len(r), attr(r[0], "error"))
				}
			})
		})
	}
}

// assertValues checks that recs, in offset order of one partition, hold
// exactly the values want.
func assertValues(t *testing.T, recs []*kgo.Record, want ...int64) {
	t.Helper()
	var got []int64
	for _, r := range recs {
		n, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			t.Fatalf("value %q: %v", r.Value, err)
		}
		got = append(got, n)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("values %v, want %v", got, want)
	}
}
