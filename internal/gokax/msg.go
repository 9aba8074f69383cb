package gokax

import (
	"context"
	"fmt"
	"time"

	"github.com/lovoo/goka"
)

// Msg is one record being processed, with goka's context methods that sluice uses,
// none of which panics on a mistake of the caller: they return errors instead.
//
// A Msg is valid only during the callback it was passed to (goka's rule for its
// Context) and must not be used from another goroutine.
type Msg struct {
	ctx      goka.Context
	outputs  map[string]bool
	lookups  map[string]*View // the processor's views of its lookup tables
	joins    map[string]bool
	stateful bool
	iso      *isolated // the record is handled in isolation (see isolate.go)
}

// Context returns the processor's context: it is cancelled when the processor stops.
func (m *Msg) Context() context.Context { return m.ctx.Context() }

// Key returns the record key.
func (m *Msg) Key() string { return m.ctx.Key() }

// Topic returns the topic the record was read from.
func (m *Msg) Topic() string { return string(m.ctx.Topic()) }

// Partition returns the partition the record was read from.
func (m *Msg) Partition() int32 { return m.ctx.Partition() }

// Offset returns the record offset.
func (m *Msg) Offset() int64 { return m.ctx.Offset() }

// Timestamp returns the record timestamp.
func (m *Msg) Timestamp() time.Time { return m.ctx.Timestamp() }

// Headers returns the record headers. The map must not be modified.
func (m *Msg) Headers() map[string][]byte { return m.ctx.Headers() }

// Value returns the group-table value of the record's key, nil if there is none.
func (m *Msg) Value() ([]byte, error) {
	if !m.stateful {
		return nil, ErrStateless
	}
	return asBytes(m.ctx.Value())
}

// SetValue sets the group-table value of the record's key: goka writes local storage
// and produces the changelog record; the input offset is committed only after the
// changelog write is acknowledged.
func (m *Msg) SetValue(b []byte, headers map[string][]byte) error {
	if !m.stateful {
		return ErrStateless
	}
	m.ctx.SetValue(b, m.emitOptions(headers)...)
	return nil
}

// Delete deletes the group-table value of the record's key.
func (m *Msg) Delete() error {
	if !m.stateful {
		return ErrStateless
	}
	if m.iso != nil {
		m.ctx.Delete(goka.WithCtxEmitHeaders(m.isoHeaders(nil)))
		return nil
	}
	m.ctx.Delete()
	return nil
}

// Emit produces a record to topic, which must be a declared output; the input
// offset is committed only after the write is acknowledged.
func (m *Msg) Emit(topic, key string, value []byte, headers map[string][]byte) error {
	if !m.outputs[topic] {
		return fmt.Errorf("emit to %q: %w", topic, ErrUndeclared)
	}
	m.ctx.Emit(goka.Stream(topic), key, value, m.emitOptions(headers)...)
	return nil
}

// Lookup returns the value of key in table, a declared lookup, or nil.
func (m *Msg) Lookup(table, key string) ([]byte, error) {
	v := m.lookups[table]
	if v == nil {
		return nil, fmt.Errorf("lookup in %q: %w", table, ErrUndeclared)
	}
	b, err := v.Get(key)
	if err != nil {
		return nil, fmt.Errorf("lookup in %q: %w", table, err)
	}
	return b, nil
}

// Join returns the value of the record's key in table, a declared join, or nil.
func (m *Msg) Join(table string) ([]byte, error) {
	if !m.joins[table] {
		return nil, fmt.Errorf("join with %q: %w", table, ErrUndeclared)
	}
	return asBytes(m.ctx.Join(goka.Table(table)))
}

func asBytes(v any) ([]byte, error) {
	switch b := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	default:
		return nil, fmt.Errorf("gokax: table value of type %T, want []byte", v)
	}
}

// Abort marks the record as not processed: its offset is not committed and the
// processor stops with err once the record's other writes are done, so the record
// is read again by whoever takes the partition over. Use it when the callback
// cannot finish (shutdown during a retry), never for a bad record.
func (m *Msg) Abort(err error) { m.ctx.DeferCommit()(err) }

// DeferCommit takes over the commit of the record: its offset is committed only
// after done(nil) is called (in any goroutine), and done(err) stops the processor
// with err instead. goka commits through the consumer group session's
// MarkOffset ([ksession]), which only moves forward: callers must release
// deferred commits in offset order.
func (m *Msg) DeferCommit() (done func(err error)) { return m.ctx.DeferCommit() }

// Loopback sends a record to the group's own loop topic under key; the group's
// Loop callback handles it on the partition of key.
func (m *Msg) Loopback(key string, value []byte, headers map[string][]byte) {
	m.ctx.Loopback(key, value, goka.WithCtxEmitHeaders(m.isoHeaders(headers)))
}

// Settle waits until the broker answered every write so far of a record
// handled in isolation (see isolate.go), and returns their failures since
// the last call: a refusal wraps [ErrRefused], any other failure
// [ErrWriteFailed]. For every other record it returns nil at once: goka
// commits the record once its writes are acknowledged, after the callback.
func (m *Msg) Settle() error {
	if m.iso == nil {
		return nil
	}
	return m.iso.settle(m.ctx.Context())
}

// emitOptions returns goka's options of a write with headers: none for a
// write without headers of a record not handled in isolation (an option is
// a closure goka calls: an allocation per write, for nothing).
func (m *Msg) emitOptions(headers map[string][]byte) []goka.ContextOption {
	if len(headers) == 0 && m.iso == nil {
		return nil
	}
	return []goka.ContextOption{goka.WithCtxEmitHeaders(m.isoHeaders(headers))}
}

// isoHeaders returns headers, for a record handled in isolation a copy
// naming it to the producer.
func (m *Msg) isoHeaders(headers map[string][]byte) map[string][]byte {
	if m.iso == nil {
		return headers
	}
	h := make(map[string][]byte, len(headers)+1)
	for k, v := range headers {
		h[k] = v
	}
	h[isolateHeader] = []byte(m.iso.id)
	return h
}
