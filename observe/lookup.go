package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// lookupTimeout bounds the read of one table partition for a lookup.
const lookupTimeout = 15 * time.Second

// decoder decodes a table value with the table's codec.
type decoder func(b []byte) (any, error)

// tableDecoders returns a decoder for every table of g whose codec it can
// find: the agents' states, and the tables among the sources, lookups and
// joins. The codecs are generic fields of the declarations ([topology.Agent]'s
// State, [topology.Table]'s Codec); reflection calls their Decode without
// knowing the value type, which only needs to marshal to JSON.
func tableDecoders(g *topology.Graph) map[string]decoder {
	out := map[string]decoder{}
	addTopic := func(t topology.Topic) {
		if t == nil || t.Kind() != topology.KindTable {
			return
		}
		v := reflect.ValueOf(t)
		if v.Kind() != reflect.Struct {
			return
		}
		if d := codecDecoder(v.FieldByName("Codec")); d != nil {
			if _, ok := out[t.TopicName()]; !ok {
				out[t.TopicName()] = d
			}
		}
	}
	for _, a := range g.Agents {
		v := reflect.ValueOf(a)
		if a == nil || v.Kind() != reflect.Struct {
			continue
		}
		if d := codecDecoder(v.FieldByName("State")); d != nil {
			out[topology.TableName(a.AgentName())] = d
		}
		for _, field := range []string{"Lookups", "Joins"} {
			if ts, ok := v.FieldByName(field).Interface().([]topology.Topic); ok {
				for _, t := range ts {
					addTopic(t)
				}
			}
		}
	}
	for _, t := range g.Sources {
		addTopic(t)
	}
	return out
}

// codecDecoder returns a decoder calling the Decode method of codec, a
// topology.Codec[T] field, or nil if it is not set.
func codecDecoder(codec reflect.Value) decoder {
	if !codec.IsValid() || codec.Kind() != reflect.Interface || codec.IsNil() {
		return nil
	}
	m := codec.MethodByName("Decode")
	if !m.IsValid() {
		return nil
	}
	return func(b []byte) (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("codec panicked: %v", p)
			}
		}()
		out := m.Call([]reflect.Value{reflect.ValueOf(b)})
		if e, _ := out[1].Interface().(error); e != nil {
			return nil, e
		}
		return out[0].Interface(), nil
	}
}

// Value is the answer to a table lookup.
type Value struct {
	Table string `json:"table"`
	Key   string `json:"key"`
	// JSON is the value decoded with the table's codec and marshalled to JSON;
	// values that do not marshal, and those of tables without a known codec,
	// are shown as a JSON string of their bytes.
	JSON json.RawMessage `json:"value"`
	// Partition and Offset locate the record the value came from.
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// lookup reads the latest value of key in table from its compacted changelog:
// the key's partition (Kafka's murmur2, as sluice's producers use) from its
// start to its end. It fails with [ErrNotFound] if the key has no value or
// its latest record is a deletion, and with a decode error for a value the
// table's codec rejects.
func lookup(ctx context.Context, cl *kgo.Client, table string, decode decoder, key string) (Value, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	adm := kadm.NewClient(cl)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, table)
	if err != nil {
		return Value{}, fmt.Errorf("end offsets of %q: %w", table, err)
	}
	starts, err := adm.ListStartOffsets(ctx, table)
	if err != nil {
		return Value{}, fmt.Errorf("start offsets of %q: %w", table, err)
	}
	n := int32(len(ends[table]))
	if _, missing := ends[table][-1]; missing || n == 0 {
		return Value{}, fmt.Errorf("table %q: the topic does not exist yet: %w", table, ErrNotFound)
	}
	p := topology.Partition(key, n)
	end, _ := ends.Lookup(table, p)
	start, _ := starts.Lookup(table, p)
	if end.Err != nil {
		return Value{}, fmt.Errorf("end offset of %s/%d: %w", table, p, end.Err)
	}
	if end.Offset <= start.Offset {
		return Value{}, fmt.Errorf("key %q in table %q: %w", key, table, ErrNotFound)
	}
	// A reader connected as cl is (its seeds, TLS and SASL).
	reader, err := kgo.NewClient(append(cl.Opts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{table: {p: kgo.NewOffset().At(start.Offset)}}),
		kgo.FetchMaxWait(50*time.Millisecond),
	)...)
	if err != nil {
		return Value{}, fmt.Errorf("table reader: %w", err)
	}
	defer reader.Close()
	var last *kgo.Record
	var next int64
	for next < end.Offset {
		fs := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Value{}, fmt.Errorf("read %s/%d up to offset %d: reached %d: %w", table, p, end.Offset, next, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if string(r.Key) == key && r.Offset < end.Offset {
				last = r
			}
		})
	}
	if last == nil || last.Value == nil {
		return Value{}, fmt.Errorf("key %q in table %q: %w", key, table, ErrNotFound)
	}
	v := Value{Table: table, Key: key, Partition: p, Offset: last.Offset}
	if v.JSON, err = toJSON(decode, last.Value); err != nil {
		return Value{}, fmt.Errorf("key %q in table %q at %d/%d: %w", key, table, p, last.Offset, err)
	}
	return v, nil
}

// toJSON decodes b with decode, if set, and marshals the value to JSON.
func toJSON(decode decoder, b []byte) (json.RawMessage, error) {
	if decode == nil {
		return rawJSON(b), nil
	}
	v, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("the table's codec cannot decode the value: %w", err)
	}
	if raw, ok := v.([]byte); ok {
		return rawJSON(raw), nil
	}
	js, err := json.Marshal(v)
	if err != nil {
		return rawJSON(b), nil
	}
	return js, nil
}

// rawJSON returns b itself if it is JSON, else b as a JSON string (bytes
// that are not UTF-8 as Go's %q quotes them).
func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s := string(b)
	if !utf8.Valid(b) {
		s = fmt.Sprintf("%q", b)
	}
	js, _ := json.Marshal(s)
	return js
}
