package gokax

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// committer commits the transaction when it is due, until stop.
func (t *txns) committer(stop, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(max(t.interval/2, time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		case <-t.kick:
		}
		if !t.due() {
			continue
		}
		t.gate.Lock()
		err := t.commitLocked(true /* wait */)
		t.gate.Unlock()
		if err != nil {
			t.fail(err) // the next record stops the processor
		}
	}
}

// due reports whether the open transaction has records and is older than
// the commit interval or holds the most records it may.
func (t *txns) due() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err == nil && t.count > 0 && (t.count >= t.records || time.Since(t.since) >= t.interval)
}

// settled waits until every record handed to a callback is done (its writes
// acknowledged and goka's mark in); without wait, it reports an error if
// one is not. gate is held exclusively: no record is being handled.
func (t *txns) settled(ctx context.Context, wait bool) error {
	if err := t.cl.Flush(ctx); err != nil {
		return fmt.Errorf("transactional producer %q: flush: %w: %w", t.id, ErrTxn, err)
	}
	for {
		t.mu.Lock()
		err, ch := t.err, t.changed
		ok := true
		for tp, off := range t.started {
			if t.next[tp] <= off {
				ok = false
				break
			}
		}
		t.mu.Unlock()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		case !wait:
			return fmt.Errorf("transactional producer %q: records in flight at the end of the session: %w", t.id, ErrTxn)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("transactional producer %q: stopped waiting for records: %w: %w", t.id, ErrTxn, ctx.Err())
		}
	}
}

// commitLocked commits the open transaction with the offsets of its records
// and begins the next; gate is held exclusively. It first waits (with wait)
// until every record handed to a callback is done. The table's store
// receives the transaction's writes after the commit.
func (t *txns) commitLocked(wait bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), TransactionTimeout)
	defer cancel()
	if err := t.settled(ctx, wait); err != nil {
		return err
	}
	t.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for tp := range t.dirty {
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: t.next[tp]}
	}
	wrote := t.wrote
	t.mu.Unlock()
	ended := true
	switch {
	case wrote:
		if len(offsets) > 0 {
			if err := t.commitOffsets(ctx, offsets); err != nil {
				return err
			}
		}
		if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("transactional producer %q: commit: %w: %w", t.id, ErrTxn, err)
		}
	case len(offsets) > 0:
		// Records that wrote nothing: a transaction with offsets alone
		// would need an EndTxn the client does not send for a transaction
		// it wrote nothing in. The group's offset is committed as
		// at-least-once commits it; every earlier transaction has ended,
		// and the records it covers have no effects to repeat.
		if err := t.commitPlain(ctx, offsets); err != nil {
			return err
		}
		if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("transactional producer %q: end: %w: %w", t.id, ErrTxn, err)
		}
	default:
		ended = false // nothing happened: the transaction stays open
	}
	t.mu.Lock()
	if ended {
		t.inTxn = false
	}
	clear(t.dirty)
	t.count, t.wrote, t.since = 0, false, time.Now()
	storages := slices.Collect(maps.Values(t.storages))
	t.mu.Unlock()
	t.writeCommitted(storages)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.beginLocked()
}

// writeCommitted starts the write-through of the committed transaction's
// writes to the stores of the partitions it wrote (see [txnStorage]), in
// parallel (each store syncs its own write-ahead log), after the previous
// one finished; a failure fails the transaction then open.
func (t *txns) writeCommitted(storages []*txnStorage) {
	t.writing.Wait()
	sem := make(chan struct{}, 16)
	for _, s := range storages {
		if write := s.committed(); write != nil {
			t.writing.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := write(); err != nil {
					t.fail(fmt.Errorf("transactional producer %q: write committed state: %w: %w", t.id, ErrTxn, err))
				}
			})
		}
	}
}

// abortLocked aborts the open transaction and drops its state writes; gate
// is held exclusively.
func (t *txns) abortLocked(reason error) {
	ctx, cancel := context.WithTimeout(context.Background(), TransactionTimeout)
	defer cancel()
	t.mu.Lock()
	for _, s := range t.storages {
		s.aborted()
	}
	inTxn := t.inTxn
	t.inTxn = false
	clear(t.dirty)
	t.count, t.wrote = 0, false
	t.mu.Unlock()
	if !inTxn {
		return
	}
	if err := t.cl.AbortBufferedRecords(ctx); err != nil {
		t.log.Warn("abort buffered records", "id", t.id, "error", err)
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		// Fenced or the broker is gone: the broker aborts it, at the latest
		// after the transaction timeout.
		t.log.Warn("abort transaction", "id", t.id, "error", err)
	}
	t.log.Info("transaction aborted", "id", t.id, "reason", reason)
}
