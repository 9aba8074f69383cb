package tables

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// maxPendingBytes commits a recovery batch early, amid a record if need be,
// when its records are large or come without SetOffset, bounding the memory
// it holds; records of goka tables are usually small.
const maxPendingBytes = 4 << 20

// pendingBatch collects recovery writes. goka replays a table's changelog with
// one Set (or Delete) and one SetOffset per record before it calls
// MarkRecovered; committing each write alone costs a log record and a commit
// pipeline pass per write, so they go to an indexed batch instead, committed
// every RecoveryBatchSize records. Reads go through the batch (an indexed
// batch answers Gets with its own writes over the database's), so that they
// see what was written, as goka's stores do.
type pendingBatch struct {
	batch *pebble.Batch
	// records counts the SetOffset calls since the last commit.
	records int
	// offset is the last offset set since the last commit, if hasOffset.
	// It is written to the batch on commit only, once instead of per record.
	offset    int64
	hasOffset bool
	// wrote is set by the first commit: MarkRecovered syncs only then.
	wrote bool
}

// setPendingOffsetLocked records offset and commits the pending batch at this
// record boundary if it is full.
func (s *Store) setPendingOffsetLocked(offset int64) error {
	p := &s.mu.pending
	p.offset, p.hasOffset = offset, true
	p.records++
	if p.records < s.cfg.recoveryBatchSize {
		return nil
	}
	return s.flushLocked(pebble.NoSync)
}

// pendingWrittenLocked commits the pending batch, if any, once it holds
// maxPendingBytes, even amid a record: the offset then lags its data.
func (s *Store) pendingWrittenLocked() error {
	if b := s.mu.pending.batch; b == nil || b.Len() < maxPendingBytes {
		return nil
	}
	return s.flushLocked(pebble.NoSync)
}

// flushLocked commits the pending batch with the pending offset as its last
// write, so that the offset lands atomically with the data it covers (see
// offsetName). Writes of a record whose SetOffset has not come yet may be
// committed without their offset: the offset then lags its data, which is
// safe. The batch is emptied even if the commit fails: its writes are lost,
// but so is their offset.
func (s *Store) flushLocked(opts *pebble.WriteOptions) error {
	p := &s.mu.pending
	defer func() {
		p.batch.Reset()
		p.records, p.hasOffset = 0, false
	}()
	if p.hasOffset {
		if err := p.batch.Set(s.offsetKey, encodeOffset(p.offset), nil); err != nil {
			return fmt.Errorf("tables: set offset %d: %w", p.offset, err)
		}
	}
	if p.batch.Empty() {
		return nil
	}
	if err := s.watch.check(true); err != nil {
		return err
	}
	if err := p.batch.Commit(opts); err != nil {
		return fmt.Errorf("tables: commit recovery batch: %w", err)
	}
	p.wrote = true
	return nil
}

// MarkRecovered ends recovery mode: it commits the pending batch, syncing the
// write-ahead log once so that the recovered table survives even an OS crash
// (unless recovery wrote nothing, as for a new partition or one whose
// changelog had nothing new: then there is nothing to sync, and a partition
// costs no fsync at startup), and from then on writes go straight to the
// database. goka calls it once the
// table caught up with its changelog, possibly from another goroutine;
// further calls return nil.
func (s *Store) MarkRecovered() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.db == nil {
		return ErrClosed
	}
	if s.mu.pending.batch == nil {
		return nil
	}
	offset, hasOffset := s.mu.pending.offset, s.mu.pending.hasOffset
	if err := s.flushLocked(pebble.NoSync); err != nil {
		return err
	}
	// An empty synced record syncs the log up to it, including the earlier
	// unsynced commits of recovery.
	if s.mu.pending.wrote {
		if err := s.watch.check(true); err != nil {
			return err
		}
		if err := s.mu.db.LogData(nil, pebble.Sync); err != nil {
			return fmt.Errorf("tables: sync: %w", err)
		}
	}
	if err := s.mu.pending.batch.Close(); err != nil {
		return fmt.Errorf("tables: close recovery batch: %w", err)
	}
	s.mu.pending.batch = nil
	s.recovered.Store(true)
	if hasOffset {
		s.logger.Debug("tables: recovered", "offset", offset)
	} else {
		s.logger.Debug("tables: recovered")
	}
	return nil
}
