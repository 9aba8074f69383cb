package tables

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// Iterator returns an iterator over all keys in order, on a snapshot of the
// store taken now: later writes are invisible to it. It hides the offset key.
// During recovery it first commits the pending batch (an iterator over the
// batch itself would race with the writer); this never lets the offset run
// ahead of its data (see flushLocked).
//
// The iterator is not safe for concurrent use; Release frees it, and Close of
// the store stops it (see [ErrClosed]).
func (s *Store) Iterator() (storage.Iterator, error) {
	return s.newIterator(nil, nil)
}

// IteratorWithRange is like Iterator over part of the keys, with goka's
// semantics: if limit is empty, the keys that start with start; else the keys
// in [start, limit). A nil start is unbounded.
func (s *Store) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if len(start) == 0 {
		start = nil // the same bound; see Seek for why not empty
	}
	if len(limit) == 0 {
		return s.newIterator(start, prefixEnd(start))
	}
	if start != nil && bytes.Compare(start, limit) > 0 {
		limit = start // an empty range, which Pebble's bounds cannot invert
	}
	return s.newIterator(start, limit)
}

// bounds returns the database bounds of the partition's keys in [lower,
// upper), where nil is unbounded: within the partition's prefix.
func (s *Store) bounds(lower, upper []byte) (dbLower, dbUpper []byte) {
	if s.prefix == nil {
		return lower, upper
	}
	dbLower = append(bytes.Clone(s.prefix), lower...)
	if upper == nil {
		return dbLower, prefixEnd(s.prefix)
	}
	return dbLower, append(bytes.Clone(s.prefix), upper...)
}

// prefixEnd returns the least key greater than every key starting with
// prefix, or nil (unbounded) if there is none, as goleveldb's BytesPrefix.
func prefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] < 0xff {
			end := bytes.Clone(prefix[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}

func (s *Store) newIterator(lower, upper []byte) (storage.Iterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.db == nil {
		return nil, ErrClosed
	}
	if s.mu.pending.batch != nil {
		if err := s.flushLocked(pebble.NoSync); err != nil {
			return nil, err
		}
	}
	// Pebble copies the bounds and reads a point-in-time view of the
	// database, which is the snapshot goka's iterators promise.
	lower, upper = s.bounds(lower, upper)
	pit, err := s.mu.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("tables: new iterator: %w", err)
	}
	it := &iterator{s: s, it: pit}
	s.mu.iters[it] = struct{}{}
	return it, nil
}

// iterator is a goka storage.Iterator on a Pebble iterator.
type iterator struct {
	s *Store
	// it is nil once released or closed with the store. It is guarded by
	// s.mu, held shared by the iterator's methods (which its one user calls
	// one at a time) and exclusively by Release and Store.Close.
	it *pebble.Iterator
	// started is set by the first Next or Seek: goka's first Next moves to the
	// first key, later ones to the following key.
	started bool
	// err is ErrClosed once the store was closed under the iterator.
	err error
}

// Next moves to the next key and reports whether there is one. The first call
// moves to the first key; after Seek it moves past the key Seek found.
func (i *iterator) Next() bool {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return false
	}
	var ok bool
	if i.started {
		ok = i.it.Next()
	} else {
		ok = i.it.First()
		i.started = true
	}
	return i.skipOffset(ok)
}

// Seek moves to the first key at or after key and reports whether there is
// one; Key and Value then return it. Unlike goka's LevelDB iterator, Seek too
// skips the offset key.
func (i *iterator) Seek(key []byte) bool {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return false
	}
	i.started = true
	if len(key) == 0 {
		// The same as SeekGE, which indexes an empty non-nil key in builds
		// with Pebble's invariants on (the race detector turns them on).
		return i.skipOffset(i.it.First())
	}
	return i.skipOffset(i.it.SeekGE(i.s.key(string(key))))
}

func (i *iterator) skipOffset(ok bool) bool {
	if ok && bytes.Equal(i.it.Key(), i.s.offsetKey) {
		return i.it.Next()
	}
	return ok
}

// Key returns the current key, or nil if there is none. It stays valid until
// the next call of Next, Seek or Release.
func (i *iterator) Key() []byte {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil || !i.it.Valid() {
		return nil
	}
	return i.it.Key()[len(i.s.prefix):]
}

// Value returns the current value, or nil if there is none. It stays valid
// until the next call of Next, Seek or Release.
func (i *iterator) Value() ([]byte, error) {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil || !i.it.Valid() {
		return nil, nil
	}
	v, err := i.it.ValueAndErr()
	if err != nil {
		return nil, fmt.Errorf("tables: iterator value: %w", err)
	}
	return v, nil
}

// Err returns the error that stopped the iteration, if any: [ErrClosed] if the
// store was closed under the iterator.
func (i *iterator) Err() error {
	i.s.mu.RLock()
	defer i.s.mu.RUnlock()
	if i.it == nil {
		return i.err
	}
	return i.it.Error()
}

// Release frees the iterator; it is then exhausted. Release may be called
// more than once, and after the store was closed.
func (i *iterator) Release() {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	if i.it != nil {
		_ = i.it.Close() // an error here would have stopped iteration: Err had it
		delete(i.s.mu.iters, i)
		i.it = nil
	}
}

// closeLocked closes the iterator with its store, which holds s.mu.
func (i *iterator) closeLocked() {
	_ = i.it.Close()
	delete(i.s.mu.iters, i)
	i.it = nil
	i.err = ErrClosed
}
