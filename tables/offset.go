package tables

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// offsetName is the key under which a store keeps its offset, in decimal, as goka's LevelDB
// storage does. Iterators skip it; Get, Set and Delete of "__offset" reach it,
// as they do in goka's LevelDB storage.
//
// # Why the offset never runs ahead of its data
//
// Writes are not synced: a crash may lose the latest ones, and goka replays
// them from the changelog, starting after the stored offset. That is safe only
// if the stored offset never covers a write that was lost, which holds because
// every crash leaves the effects of a prefix of the store's commits:
//
//   - Each commit (a write, or a recovery batch) gets the next sequence number
//     and its record is appended to the write-ahead log in that order.
//   - A killed process loses only the tail of the log that Pebble had not yet
//     written to the file: unless asked to sync, Pebble writes the log in
//     32 KiB blocks. An OS crash may lose unsynced pages anywhere in the tail,
//     but replay stops at the first missing or torn record.
//   - A memtable is flushed to sstables whole, and its log is deleted only after.
//
// The offset of a record is committed after the data the record wrote: in
// normal operation goka calls SetOffset only after the Set it covers has
// returned, so in a later commit; during recovery the offset goes into the same
// atomic batch as the data, as its last write (see recovery.go). Any prefix
// that holds an offset therefore holds the data it covers.
const offsetName = "__offset"

// GetOffset returns the stored offset, or def if none was stored. During
// recovery it includes the offsets of the pending batch.
func (s *Store) GetOffset(def int64) (int64, error) {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return 0, ErrClosed
	}
	if s.mu.pending.hasOffset {
		return s.mu.pending.offset, nil
	}
	v, closer, err := s.readerLocked().Get(s.offsetKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tables: get offset: %w", err)
	}
	defer closer.Close()
	offset, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tables: decode offset %q: %w", v, err)
	}
	return offset, nil
}

// SetOffset stores offset, which covers the writes made before it. It is not
// synced, like Set. During recovery it goes to the pending batch and commits
// the batch once it holds RecoveryBatchSize records.
func (s *Store) SetOffset(offset int64) error {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return ErrClosed
	}
	if s.mu.pending.batch != nil {
		return s.setPendingOffsetLocked(offset)
	}
	if err := s.watch.check(false); err != nil {
		return err
	}
	if err := s.mu.db.Set(s.offsetKey, encodeOffset(offset), pebble.NoSync); err != nil {
		return fmt.Errorf("tables: set offset %d: %w", offset, err)
	}
	return nil
}

func encodeOffset(offset int64) []byte {
	return strconv.AppendInt(make([]byte, 0, 20), offset, 10)
}
