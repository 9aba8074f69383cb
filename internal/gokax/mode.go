package gokax

import (
	"log/slog"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
)

// mode is how a processor handles its records, one of three:
//   - exactly once (tx set): each record inside the processor's Kafka
//     transaction (see txn.go);
//   - at least once (iso set): offsets committed only past records that are
//     done, and the suspects of a refused write handled in isolation, one
//     write per request (see isolate.go);
//   - on goka's tester (neither set): records handled as they come.
//
// commits sees every record in every mode (see commit.go).
type mode struct {
	commits *commits
	tx      *txns
	iso     *procIsolation
}

// newMode returns the mode o asks for a processor of group.
func newMode(group string, o Options, logger *slog.Logger) *mode {
	md := &mode{commits: &commits{onMark: o.OnMark, onRevoke: o.OnRevoke}}
	switch {
	case o.Tester != nil:
	case o.ExactlyOnce != nil:
		md.tx = newTxns(group, *o.ExactlyOnce, logger.With("agent", group))
		md.commits.tx = md.tx
	default:
		md.iso = &procIsolation{suspects: o.Suspects, commits: md.commits, log: logger.With("agent", group)}
		if md.iso.suspects == nil {
			md.iso.suspects = new(Suspects)
		}
	}
	return md
}

// callback returns goka's callback for f: the record's [Msg] is a copy of m
// over goka's context, handled as the mode handles records.
func (md *mode) callback(m Msg, f func(m *Msg, value []byte)) goka.ProcessCallback {
	return func(ctx goka.Context, v any) {
		md.commits.started(ctx)
		b, _ := v.([]byte) // nil for a tombstone (NilProcess)
		msg := m
		msg.ctx = ctx
		if md.tx != nil {
			md.tx.handle(ctx, func() { f(&msg, b) })
			return
		}
		md.handleAtLeastOnce(ctx, &msg, b, f)
	}
}

// handleAtLeastOnce calls f with the record of ctx, in isolation if it is a
// suspect (on goka's tester iso is nil, and isolate says no).
func (md *mode) handleAtLeastOnce(ctx goka.Context, msg *Msg, b []byte, f func(m *Msg, value []byte)) {
	r, ok := md.iso.isolate(ctx)
	if !ok {
		return
	}
	if r == nil {
		f(msg, b)
		return
	}
	defer r.end()
	msg.iso = r
	f(msg, b)
	_ = r.settle(ctx.Context()) // the partition's next records write after its writes; failures went to goka
}

// storage wraps st, the storage of the group table named table: in
// exactly-once mode its partitions receive a transaction's writes once it
// committed (see txnStorage); otherwise, the writes of records whose
// changelog write the producer acknowledged (see changelogAcks), to which
// the producer must report, through the returned acks. A nil st (goka's
// tester) stays nil.
func (md *mode) storage(st storage.Builder, table string) (storage.Builder, *changelogAcks) {
	switch {
	case st == nil:
		return nil, nil
	case md.tx != nil:
		return txnStorageBuilder(st, md.tx, table), nil
	default:
		acks := newChangelogAcks(table)
		return acks.storage(st), acks
	}
}
