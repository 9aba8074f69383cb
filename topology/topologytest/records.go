package topologytest

import (
	"maps"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/tester"

	"github.com/sluicehq/sluice/topology"
)

// A ConsumeOption sets a property of a record fed to the agents.
type ConsumeOption func(*consumeOptions)

type consumeOptions struct{ emit []tester.EmitOption }

// WithHeaders sets the record's headers.
func WithHeaders(h map[string][]byte) ConsumeOption {
	return func(o *consumeOptions) { o.emit = append(o.emit, tester.WithHeaders(goka.Headers(h))) }
}

// WithTime sets the record's timestamp, which is otherwise the zero time.
func WithTime(t time.Time) ConsumeOption {
	return func(o *consumeOptions) { o.emit = append(o.emit, tester.WithTime(t)) }
}

// Consume encodes v with s.Codec and feeds it to s under key. Every agent that
// reads s processes it before Consume returns, and so does every agent
// downstream of them in the graph. s must be an input of one of the graph's
// agents.
func Consume[T any](h *Harness, s topology.Stream[T], key string, v T, opts ...ConsumeOption) {
	h.t.Helper()
	if s.Codec == nil {
		h.fatalf("Consume", "stream %q has no codec", s.Name)
	}
	b, err := s.Codec.Encode(v)
	if err != nil {
		h.fatalf("Consume", "encode %v for %q: %v", v, s.Name, err)
	}
	h.consume("Consume", s.Name, key, b, opts)
}

// ConsumeRaw feeds value to topic under key as it is, for records the topic's
// codec would not produce: a poison pill, or a nil value (a tombstone). topic
// must be an input of one of the graph's agents.
func ConsumeRaw(h *Harness, topic, key string, value []byte, opts ...ConsumeOption) {
	h.t.Helper()
	h.consume("ConsumeRaw", topic, key, value, opts)
}

func (h *Harness) consume(op, topic, key string, value []byte, opts []ConsumeOption) {
	h.t.Helper()
	if !h.inputs[topic] {
		h.fatalf(op, "%q is an input of no agent of graph %q", topic, h.graph)
	}
	var co consumeOptions
	for _, o := range opts {
		if o != nil {
			o(&co)
		}
	}
	// The tester encodes with the groups' bytes codec, which keeps a nil value nil.
	h.tt.Consume(topic, key, value, co.emit...)
	h.check(op)
	h.fireUntil(op, h.clock()) // timers set for now or earlier fire at once, as on Kafka
}

// Record is a record an agent emitted.
type Record[T any] struct {
	Key     string
	Value   T
	Headers map[string][]byte
}

// Output returns the records written to s since the last call to Output for s
// (since [New] for the first), decoded with s.Codec, in order. s must be an
// output of one of the graph's agents; records a test fed to s with [Consume]
// are among those returned.
func Output[T any](h *Harness, s topology.Stream[T]) []Record[T] {
	h.t.Helper()
	if !h.outputs[s.Name] {
		h.fatalf("Output", "%q is an output of no agent of graph %q", s.Name, h.graph)
	}
	if s.Codec == nil {
		h.fatalf("Output", "stream %q has no codec", s.Name)
	}
	var out []Record[T]
	for i, r := range h.next(s.Name) {
		v, err := s.Codec.Decode(r.Value)
		if err != nil {
			h.fatalf("Output", "decode record %d of %q (key %q, value %q): %v", i, s.Name, r.Key, r.Value, err)
		}
		out = append(out, Record[T]{Key: r.Key, Value: v, Headers: r.Headers})
	}
	return out
}

// DeadLetter is a record in an agent's dead-letter topic: the original record's
// key, value and headers, plus the headers saying why ([topology.HeaderError] and
// the others), the main ones parsed.
type DeadLetter struct {
	Key     string
	Value   []byte
	Headers map[string][]byte
	// Cause is the [topology.HeaderCause] header: "decode", "handler", "panic",
	// "route", "size" or "refused" (see [topology.Cause]).
	Cause string
	// Err is the [topology.HeaderError] header: the error, as text.
	Err string
	// Attempts is the [topology.HeaderAttempts] header: how many times the handler
	// was called, 0 if the header is missing.
	Attempts int
}

// DeadLetters returns the records the agent named agent dead-lettered since the
// last call to DeadLetters for it (since [New] for the first), in order.
func DeadLetters(h *Harness, agent string) []DeadLetter {
	h.t.Helper()
	if !h.agents[agent] {
		h.fatalf("DeadLetters", "graph %q has no agent %q", h.graph, agent)
	}
	var out []DeadLetter
	for _, r := range h.next(topology.DeadLetterName(agent)) {
		n, _ := strconv.Atoi(string(r.Headers[topology.HeaderAttempts]))
		out = append(out, DeadLetter{
			Key:      r.Key,
			Value:    r.Value,
			Headers:  r.Headers,
			Cause:    string(r.Headers[topology.HeaderCause]),
			Err:      string(r.Headers[topology.HeaderError]),
			Attempts: n,
		})
	}
	return out
}

// next returns the raw records of topic since the last call for topic.
func (h *Harness) next(topic string) []Record[[]byte] {
	qt, ok := h.trackers[topic]
	if !ok {
		qt = h.tt.NewQueueTracker(topic)
		qt.Seek(0)
		h.trackers[topic] = qt
	}
	var out []Record[[]byte]
	for {
		hd, key, value, ok := qt.NextRawWithHeaders()
		if !ok {
			return out
		}
		out = append(out, Record[[]byte]{Key: key, Value: value, Headers: maps.Clone(hd)})
	}
}

// TableValue returns the value of key in t, decoded with t.Codec; ok is false if
// the key has none. t must be owned, looked up or joined by one of the graph's
// agents.
func TableValue[T any](h *Harness, t topology.Table[T], key string) (v T, ok bool) {
	h.t.Helper()
	if t.Codec == nil {
		h.fatalf("TableValue", "table %q has no codec", t.Name)
	}
	st := h.storage("TableValue", t.Name)
	b, err := st.Get(key)
	if err != nil {
		h.fatalf("TableValue", "table %q, key %q: %v", t.Name, key, err)
	}
	if b == nil {
		return v, false
	}
	if v, err = t.Codec.Decode(b); err != nil {
		h.fatalf("TableValue", "decode table %q, key %q (value %q): %v", t.Name, key, b, err)
	}
	return v, true
}

// SetTable sets the value of key in t, for a table owned outside the graph that its
// agents look up or join (see [topology.ExternalTable]), or to give an agent state
// before a test. It writes the table's storage directly, not its changelog: the
// agents see the value at once and [Output] sees nothing. t must be owned, looked
// up or joined by one of the graph's agents. A value that t.Codec encodes as nil
// deletes the key.
func SetTable[T any](h *Harness, t topology.Table[T], key string, v T) {
	h.t.Helper()
	if t.Codec == nil {
		h.fatalf("SetTable", "table %q has no codec", t.Name)
	}
	b, err := t.Codec.Encode(v)
	if err != nil {
		h.fatalf("SetTable", "encode %v for table %q: %v", v, t.Name, err)
	}
	st := h.storage("SetTable", t.Name)
	if b == nil {
		err = st.Delete(key)
	} else {
		err = st.Set(key, b)
	}
	if err != nil {
		h.fatalf("SetTable", "table %q, key %q: %v", t.Name, key, err)
	}
}

// storage returns the tester's storage of table: one per topic, shared by the
// owner's processor and every lookup and join of it.
func (h *Harness) storage(op, table string) storage.Storage {
	h.t.Helper()
	if !h.tables[table] {
		h.fatalf(op, "table %q is owned, looked up or joined by no agent of graph %q", table, h.graph)
	}
	st, err := h.tt.StorageBuilder()(table, 0)
	if err != nil {
		h.fatalf(op, "table %q: %v", table, err)
	}
	return st
}
