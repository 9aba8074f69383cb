package gokax

import (
	"errors"
	"fmt"
	"sync"

	"github.com/lovoo/goka/storage"
)

// MarkerKey is the key of the tombstone a read-committed table consumer
// delivers for each transaction marker of a changelog (see [markerConsumer]).
// Tables never hold it: stores ignore its deletion.
const MarkerKey = "\x00sluice-txn-marker"

// txnStorage is a table partition's storage in exactly-once mode. During
// recovery every call goes to the store (which batches recovery writes itself:
// recovery reads committed records only). Afterwards writes stay in memory
// until the partition's transaction commits, and only then reach the store,
// each dirty key once, followed by the changelog offset; an aborted
// transaction's writes are dropped. So the store holds committed state only,
// whatever happens to the process: a crash loses at most the writes of
// transactions committed since the last write-through, which goka then
// replays from the changelog after the stored offset, like any unsynced write
// (tables/offset.go). No store has to be wiped after an unclean shutdown.
//
// Iterators see the store, so committed state only. Safe for concurrent use.
type txnStorage struct {
	storage.Storage
	t *txns
	p int32

	mu        sync.RWMutex
	recovered bool
	dirty     map[string]cacheEntry
	offset    int64 // the last changelog offset set, if pending
	pending   bool
	closed    bool
}

// txnStorageBuilder returns st's builder with the group's own table (topic
// table) kept in a [txnStorage] and every other table cached as in
// at-least-once mode (their writes come from their changelogs only).
func txnStorageBuilder(b storage.Builder, t *txns, table string) storage.Builder {
	cached := cacheStorage(b)
	return func(topic string, partition int32) (storage.Storage, error) {
		if topic != table {
			return cached(topic, partition)
		}
		st, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		tp := t.part(partition)
		if tp == nil {
			return nil, errors.Join(fmt.Errorf("table %q partition %d: no transaction: %w", topic, partition, ErrTxn), st.Close())
		}
		s := &txnStorage{Storage: st, t: t, p: partition, dirty: map[string]cacheEntry{}}
		tp.mu.Lock()
		tp.storage = s
		tp.mu.Unlock()
		return s, nil
	}
}

func (s *txnStorage) Get(key string) ([]byte, error) {
	s.mu.RLock()
	e, ok := s.dirty[key]
	s.mu.RUnlock()
	if !ok {
		return s.Storage.Get(key)
	}
	if e.deleted {
		return nil, nil
	}
	return append([]byte{}, e.value...), nil
}

func (s *txnStorage) Has(key string) (bool, error) {
	s.mu.RLock()
	e, ok := s.dirty[key]
	s.mu.RUnlock()
	if !ok {
		return s.Storage.Has(key)
	}
	return !e.deleted, nil
}

func (s *txnStorage) Set(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovered {
		return s.Storage.Set(key, value)
	}
	s.dirty[key] = cacheEntry{value: append([]byte{}, value...)}
	return nil
}

func (s *txnStorage) Delete(key string) error {
	if key == MarkerKey {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovered {
		return s.Storage.Delete(key)
	}
	s.dirty[key] = cacheEntry{deleted: true}
	return nil
}

// GetOffset returns the last changelog offset set, whether or not it was
// written through.
func (s *txnStorage) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.pending {
		return s.offset, nil
	}
	return s.Storage.GetOffset(def)
}

func (s *txnStorage) SetOffset(offset int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovered {
		return s.Storage.SetOffset(offset)
	}
	s.offset, s.pending = offset, true
	return nil
}

// MarkRecovered ends recovery in the store and starts holding writes back.
func (s *txnStorage) MarkRecovered() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Storage.MarkRecovered(); err != nil {
		return err
	}
	s.recovered = true
	return nil
}

// committed writes the committed transaction's writes through, then its
// offset (so the offset never covers a missing write): in one atomic commit
// if the store is an [applier].
func (s *txnStorage) committed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if a, ok := s.Storage.(applier); ok {
		if err := a.Apply(writesOf(s.dirty), s.offset, s.pending); err != nil {
			return err
		}
		clear(s.dirty)
		s.pending = false
		if st, ok := s.Storage.(syncer); ok {
			return st.Sync()
		}
		return nil
	}
	for k, e := range s.dirty {
		var err error
		if e.deleted {
			err = s.Storage.Delete(k)
		} else {
			err = s.Storage.Set(k, e.value)
		}
		if err != nil {
			return err
		}
		delete(s.dirty, k)
	}
	if s.pending {
		if err := s.Storage.SetOffset(s.offset); err != nil {
			return err
		}
		s.pending = false
	}
	if st, ok := s.Storage.(syncer); ok {
		return st.Sync()
	}
	return nil
}

// syncer is a store that can make its writes durable (tables.Store).
//
// The store is synced after every transaction's write-through because the
// changelog cannot always replay it: the embedded broker (kfake) compacts
// past open transactions, so a committed value superseded by a record of an
// open transaction that is then aborted (the owner crashed) disappears from
// the changelog (TestKfakeCompactsOpenTransactions). Kafka compacts only
// below the last stable offset.
type syncer interface{ Sync() error }

// aborted drops the aborted transaction's writes.
func (s *txnStorage) aborted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.dirty)
	s.pending = false
}

// Close ends the partition's transaction, committing it if every record of
// it is done (goka closes a table after its partition stopped), writes it
// through, and closes the store. Writes of an aborted transaction are lost.
func (s *txnStorage) Close() error {
	var ferr error
	if tp := s.t.part(s.p); tp != nil {
		tp.mu.Lock()
		if tp.storage == s {
			ferr = tp.finishLocked()
			tp.storage = nil
		}
		tp.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	clear(s.dirty)
	if err := s.Storage.Close(); err != nil {
		return err
	}
	if ferr != nil {
		// Not a close failure: the transaction was aborted, and the processor
		// reports why.
		s.t.log.Info("table closed after an aborted transaction", "partition", s.p, "reason", ferr)
	}
	return nil
}
