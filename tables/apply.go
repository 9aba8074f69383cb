package tables

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Write is one write of [Store.Apply]: Value stored under Key (a nil Value
// as an empty one, as Set does), or Key deleted if Delete.
type Write struct {
	Key    string
	Value  []byte
	Delete bool
}

// Apply makes writes and then, if setOffset, stores offset, in one atomic
// commit: a crash leaves all of them or none, so the offset lands with the
// data it covers. It is what a cache that writes a partition's dirty keys
// through at once wants (one commit, not one per key); like Set it is not
// synced. During recovery the writes and the offset go to the pending
// recovery batch, as Set, Delete and SetOffset would. Apply copies what it
// is given.
func (s *Store) Apply(writes []Write, offset int64, setOffset bool) error {
	shared := s.lock()
	defer s.unlock(shared)
	if s.mu.db == nil {
		return ErrClosed
	}
	if s.mu.pending.batch != nil {
		if err := applyTo(s, s.mu.pending.batch, writes); err != nil {
			return err
		}
		if setOffset {
			return s.setPendingOffsetLocked(offset)
		}
		return s.pendingWrittenLocked()
	}
	b := s.mu.db.NewBatch()
	defer b.Close()
	if err := applyTo(s, b, writes); err != nil {
		return err
	}
	if setOffset {
		if err := b.Set(s.offsetKey, encodeOffset(offset), nil); err != nil {
			return fmt.Errorf("tables: set offset %d: %w", offset, err)
		}
	}
	if b.Empty() {
		return nil
	}
	if err := s.watch.check(true); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("tables: apply %d writes: %w", len(writes), err)
	}
	return nil
}

// applyTo adds writes to b under s's prefix.
func applyTo(s *Store, b *pebble.Batch, writes []Write) error {
	for _, w := range writes {
		var err error
		if w.Delete {
			err = b.Delete(s.key(w.Key), nil)
		} else {
			err = b.Set(s.key(w.Key), w.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("tables: apply %q: %w", w.Key, err)
		}
	}
	return nil
}
