package gokax

import (
	"sync"

	"github.com/lovoo/goka/storage"
)

// MarkerKey is the key of the tombstone a read-committed table consumer
// delivers for each transaction marker of a changelog (see [kconsumer]).
// Tables never hold it: stores ignore its deletion.
const MarkerKey = "\x00sluice-txn-marker"

// txnStorage is a table partition's storage in exactly-once mode. During
// recovery every call goes to the store (which batches recovery writes itself:
// recovery reads committed records only). Afterwards writes stay in memory
// until the transaction commits, and only then reach the store, each dirty
// key once, followed by the changelog offset; an aborted transaction's writes
// are dropped. So the store holds committed state only, whatever happens to
// the process: a crash loses at most the writes of transactions committed
// since the last of them that reached the disk, which goka then replays from
// the changelog after the stored offset, like any unsynced write
// (tables/offset.go). No store has to be wiped after an unclean shutdown.
//
// The store is not synced, as in at-least-once mode: the changelog holds
// every committed write, because the broker compacts only below the last
// stable offset (Kafka, and the embedded broker since its cleaner checks it:
// internal/broker's TestCompactStopsAtOpenTransaction). It was synced after
// every write-through while kfake's cleaner could remove a committed value
// superseded by a record of an open transaction that was then aborted.
//
// The write-through runs after the commit, while the next transaction's
// records are handled (reads see the committed writes meanwhile); the next
// commit waits for it. Synced one after another inside the commit, 8
// partitions' stores took 15-20 ms of each 100 ms.
//
// Iterators see the store, so committed state only. Safe for concurrent use.
type txnStorage struct {
	storage.Storage
	t *txns
	p int32

	mu        sync.RWMutex
	recovered bool
	dirty     map[string]cacheEntry // the open transaction's writes
	offset    int64                 // the last changelog offset set, if pending
	pending   bool
	flushing  map[string]cacheEntry // a committed transaction's writes on their way to the store
	flushOff  int64
	flushPend bool
	closed    bool

	wmu sync.Mutex // held while writing through; Close waits for it
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
		s := &txnStorage{Storage: st, t: t, p: partition, dirty: map[string]cacheEntry{}}
		t.mu.Lock()
		t.storages[partition] = s
		t.mu.Unlock()
		return s, nil
	}
}

// lookup returns the entry of key in the open transaction's writes or the
// committed ones on their way to the store.
func (s *txnStorage) lookup(key string) (cacheEntry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.dirty[key]; ok {
		return e, true
	}
	e, ok := s.flushing[key]
	return e, ok
}

func (s *txnStorage) Get(key string) ([]byte, error) {
	e, ok := s.lookup(key)
	if !ok {
		return s.Storage.Get(key)
	}
	if e.deleted {
		return nil, nil
	}
	return append([]byte{}, e.value...), nil
}

func (s *txnStorage) Has(key string) (bool, error) {
	e, ok := s.lookup(key)
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
	switch {
	case s.pending:
		return s.offset, nil
	case s.flushPend:
		return s.flushOff, nil
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

// committed hands the committed transaction's writes to the write-through
// and returns it, nil if the transaction wrote nothing here. It is called
// while no record is handled, after the previous write-through finished.
func (s *txnStorage) committed() func() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (len(s.dirty) == 0 && !s.pending) {
		return nil
	}
	s.flushing, s.dirty = s.dirty, map[string]cacheEntry{}
	s.flushOff, s.flushPend, s.pending = s.offset, s.pending, false
	return s.writeThrough
}

// writeThrough writes the committed transaction's writes to the store, then
// its offset (so the offset never covers a missing write): in one atomic
// commit if the store is an [applier].
func (s *txnStorage) writeThrough() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	closed, writes, off, pend := s.closed, s.flushing, s.flushOff, s.flushPend
	s.mu.RUnlock()
	if closed {
		return nil
	}
	if err := s.writeLocked(writes, off, pend); err != nil {
		return err
	}
	s.mu.Lock()
	s.flushing, s.flushPend = nil, false
	s.mu.Unlock()
	return nil
}

// writeLocked writes writes and, if pend, the offset off after them.
func (s *txnStorage) writeLocked(writes map[string]cacheEntry, off int64, pend bool) error {
	if a, ok := s.Storage.(applier); ok {
		return a.Apply(writesOf(writes), off, pend)
	}
	for k, e := range writes {
		var err error
		if e.deleted {
			err = s.Storage.Delete(k)
		} else {
			err = s.Storage.Set(k, e.value)
		}
		if err != nil {
			return err
		}
	}
	if pend {
		return s.Storage.SetOffset(off)
	}
	return nil
}

// aborted drops the aborted transaction's writes.
func (s *txnStorage) aborted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.dirty)
	s.pending = false
}

// Close closes the store. goka closes a table after its partition stopped,
// before the session's transaction ends: writes not committed by then are
// dropped from the store, and if the transaction commits, the next recovery
// reads them from the changelog after the store's offset, like any write
// that did not reach the store.
func (s *txnStorage) Close() error {
	s.t.mu.Lock()
	if s.t.storages[s.p] == s {
		delete(s.t.storages, s.p)
	}
	s.t.mu.Unlock()
	s.wmu.Lock() // a write-through of committed writes finishes first
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	clear(s.dirty)
	return s.Storage.Close()
}
