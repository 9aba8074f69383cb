package tables

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Sync makes every write made so far durable, even across an OS crash, by
// syncing the write-ahead log once. Writes are otherwise not synced (see
// offsetName): a killed process may lose the latest of them, which is safe as
// long as the changelog still holds them. A caller that cannot rely on that
// syncs after each batch of writes.
// During recovery it commits the pending batch first.
func (s *Store) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.db == nil {
		return ErrClosed
	}
	if s.mu.pending.batch != nil {
		if err := s.flushLocked(pebble.NoSync); err != nil {
			return err
		}
	}
	// An empty synced record syncs the log up to it (as MarkRecovered does).
	if err := s.watch.check(true); err != nil {
		return err
	}
	if err := s.mu.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("tables: sync: %w", err)
	}
	return nil
}
