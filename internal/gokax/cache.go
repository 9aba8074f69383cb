package gokax

import (
	"sync"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// Write-behind limits of a [cachedStorage]. A counting agent on 1,000 keys and 8
// partitions wrote each key about 8 times per flush with flushEvery 1000.
const (
	// flushEvery is how many changelog acknowledgements (SetOffset calls) a
	// partition collects before it writes its dirty keys and the offset through.
	flushEvery = 1000
	// maxDirtyBytes flushes early when dirty values are large.
	maxDirtyBytes = 4 << 20
	// maxClean bounds the clean entries kept for reads; past it they are dropped.
	maxClean = 16 << 10
)

// cacheStorage wraps a storage builder with a write-behind cache per partition
// (see [cachedStorage]) for tables whose writes come from their changelogs:
// joined tables, and the other tables of an exactly-once processor.
func cacheStorage(b storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		return newCachedStorage(st), nil
	}
}

// cachedStorage is a write-behind cache in front of a table partition's
// storage, for the partition's hot keys once it has recovered. goka calls Get,
// Set and, when the changelog write is acknowledged, SetOffset for every
// message: three storage calls, two of them commits. Here Sets stay in memory
// and reach the storage every flushEvery offsets, each dirty key once, followed
// by the offset; Gets of keys written recently are answered from memory.
//
// The changelog stays the source of truth: a crash loses at most the writes
// since the last flush, and goka replays them from the changelog after the
// stored offset, as it replays what any unsynced write lost. The stored offset
// never covers a lost write, because a flush writes all dirty keys and only
// then the offset.
//
// A processor's own table (see [changelogAcks]) is written by the processor
// before its changelog record is even produced, and that produce may fail.
// Such a write waits in unacked until the producer acknowledges its changelog
// record, and only then becomes dirty; a flush, and Close, write dirty keys
// only. A write whose changelog record never made it is dropped with the
// storage, so a restarted processor does not find it: it replays the record
// (whose offset was not committed either) against the state the changelog
// holds. Reads see every write, acknowledged or not.
//
// During recovery every call goes straight to the storage, which batches
// recovery writes itself. Safe for concurrent use: goka reads from views and
// acknowledges from the producer's goroutine while the partition writes.
type cachedStorage struct {
	storage.Storage
	acks    bool   // writes wait in unacked for their changelog acknowledgement
	release func() // called by Close, if set

	mu           sync.RWMutex
	recovered    bool
	keys         map[string]*cachedKey // the keys with an unacknowledged write or a cached value
	unackedBytes int
	dirty        []*cachedKey // the keys whose value is dirty, each once, to write through at the next flush
	dirtyBytes   int
	offset       int64 // the last offset set since the last flush, if pending > 0
	pending      int
}

// cachedKey is what the cache holds of a key, in one map entry: a
// record's Get, Set and acknowledgement each find it with one lookup (three
// maps of unacknowledged, dirty and clean entries took up to eight).
type cachedKey struct {
	key     string
	unacked []cacheEntry // oldest first: written, changelog record not acknowledged
	value   cacheEntry   // the last acknowledged write: dirty or clean, if state says so
	state   keyState
}

// keyState is what a cachedKey's value is.
type keyState uint8

const (
	noValue    keyState = iota // none: only the storage knows
	dirtyValue                 // to write through at the next flush
	cleanValue                 // written through, kept for reads
)

// cacheEntry is a value, or a deletion if deleted.
type cacheEntry struct {
	value   []byte
	deleted bool
}

func newCachedStorage(st storage.Storage) *cachedStorage {
	return &cachedStorage{Storage: st, keys: map[string]*cachedKey{}}
}

func (c *cachedStorage) lookup(key string) (cacheEntry, bool) {
	k := c.keys[key]
	switch {
	case k == nil:
		return cacheEntry{}, false
	case len(k.unacked) > 0:
		return k.unacked[len(k.unacked)-1], true
	default:
		return k.value, k.state != noValue
	}
}

// Get returns a copy of the value of key, nil if it does not exist.
func (c *cachedStorage) Get(key string) ([]byte, error) {
	c.mu.RLock()
	e, ok := c.lookup(key)
	c.mu.RUnlock()
	if !ok {
		return c.Storage.Get(key)
	}
	if e.deleted {
		return nil, nil
	}
	return append([]byte{}, e.value...), nil
}

// Has reports whether key exists.
func (c *cachedStorage) Has(key string) (bool, error) {
	c.mu.RLock()
	e, ok := c.lookup(key)
	c.mu.RUnlock()
	if !ok {
		return c.Storage.Has(key)
	}
	return !e.deleted, nil
}

// Set stores value under key: a copy in memory once recovered.
func (c *cachedStorage) Set(key string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recovered {
		return c.Storage.Set(key, value)
	}
	return c.writeLocked(key, cacheEntry{value: append([]byte{}, value...)})
}

// Delete deletes key: in memory once recovered.
func (c *cachedStorage) Delete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recovered {
		return c.Storage.Delete(key)
	}
	return c.writeLocked(key, cacheEntry{deleted: true})
}

// cached returns what the cache holds of key, made if it holds nothing.
func (c *cachedStorage) cached(key string) *cachedKey {
	k := c.keys[key]
	if k == nil {
		k = &cachedKey{key: key}
		c.keys[key] = k
	}
	return k
}

// writeLocked makes a write of the processor: dirty at once, or, for a table
// whose writes are acknowledged, once its changelog record is.
func (c *cachedStorage) writeLocked(key string, e cacheEntry) error {
	k := c.cached(key)
	if !c.acks {
		return c.putLocked(k, e)
	}
	k.unacked = append(k.unacked, e)
	c.unackedBytes += len(e.value)
	return nil
}

// acked ends the wait of key's oldest unacknowledged write: its changelog
// record was written (err nil), and it becomes dirty; or it was refused for
// good, and it is dropped. The producer writes a partition's changelog records
// in order, so the acknowledgements of a key come in the order of its writes.
func (c *cachedStorage) acked(key string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.keys[key]
	if k == nil || len(k.unacked) == 0 {
		return // the storage closed and dropped it, or a test wrote without a producer
	}
	e := k.unacked[0]
	k.unacked[0] = cacheEntry{}
	if len(k.unacked) == 1 {
		k.unacked = k.unacked[:0] // the key's next write reuses the array
	} else {
		k.unacked = k.unacked[1:]
	}
	c.unackedBytes -= len(e.value)
	if err != nil {
		return
	}
	// A failed early flush keeps its keys dirty; the next flush, which
	// reports to goka, retries them.
	_ = c.putLocked(k, e)
}

func (c *cachedStorage) putLocked(k *cachedKey, e cacheEntry) error {
	if k.state == dirtyValue {
		c.dirtyBytes -= len(k.value.value)
	} else {
		c.dirty = append(c.dirty, k)
		k.state = dirtyValue
	}
	k.value = e
	c.dirtyBytes += len(e.value)
	if c.dirtyBytes > maxDirtyBytes {
		return c.flushLocked()
	}
	return nil
}

// GetOffset returns the last offset set, whether or not it was written through.
func (c *cachedStorage) GetOffset(def int64) (int64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.pending > 0 {
		return c.offset, nil
	}
	return c.Storage.GetOffset(def)
}

// SetOffset records offset and writes the dirty keys and then offset through
// every flushEvery calls.
func (c *cachedStorage) SetOffset(offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recovered {
		return c.Storage.SetOffset(offset)
	}
	c.offset = offset
	c.pending++
	if c.pending < flushEvery {
		return nil
	}
	return c.flushLocked()
}

// flushLocked writes the dirty keys, then the offset, to the storage and keeps
// the written entries as clean ones. A storage that can apply them all at once
// ([applier]) gets one atomic commit instead of one per key.
func (c *cachedStorage) flushLocked() error {
	if len(c.keys) > maxClean {
		c.dropClean()
	}
	if a, ok := c.Storage.(applier); ok {
		if err := a.Apply(dirtyWrites(c.dirty), c.offset, c.pending > 0); err != nil {
			return err // dirty kept: a later flush retries, the offset was not written
		}
		for _, k := range c.dirty {
			k.state = cleanValue
		}
		clear(c.dirty)
		c.dirty = c.dirty[:0]
		c.dirtyBytes, c.pending = 0, 0
		return nil
	}
	for i, k := range c.dirty {
		var err error
		if k.value.deleted {
			err = c.Storage.Delete(k.key)
		} else {
			err = c.Storage.Set(k.key, k.value.value)
		}
		if err != nil {
			c.dirty = append(c.dirty[:0], c.dirty[i:]...)
			return err // dirty kept: a later flush retries, the offset was not written
		}
		k.state = cleanValue
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	c.dirtyBytes = 0
	if c.pending > 0 {
		if err := c.Storage.SetOffset(c.offset); err != nil {
			return err
		}
		c.pending = 0
	}
	return nil
}

// dropClean forgets the clean values, and the keys that hold nothing else.
func (c *cachedStorage) dropClean() {
	for key, k := range c.keys {
		if k.state == cleanValue {
			k.state, k.value = noValue, cacheEntry{}
		}
		if k.state == noValue && len(k.unacked) == 0 {
			delete(c.keys, key)
		}
	}
}

// applier is a storage that makes many writes and stores an offset in one
// atomic commit (tables.Store): a write-through then costs one commit, and
// the offset lands with the data it covers.
type applier interface {
	Apply(writes []tables.Write, offset int64, setOffset bool) error
}

// writesOf returns the entries of dirty as writes.
func writesOf(dirty map[string]cacheEntry) []tables.Write {
	writes := make([]tables.Write, 0, len(dirty))
	for k, e := range dirty {
		writes = append(writes, tables.Write{Key: k, Value: e.value, Delete: e.deleted})
	}
	return writes
}

// dirtyWrites returns the values of the dirty keys as writes.
func dirtyWrites(dirty []*cachedKey) []tables.Write {
	writes := make([]tables.Write, 0, len(dirty))
	for _, k := range dirty {
		writes = append(writes, tables.Write{Key: k.key, Value: k.value.value, Delete: k.value.deleted})
	}
	return writes
}

// MarkRecovered ends recovery in the storage and starts caching.
func (c *cachedStorage) MarkRecovered() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Storage.MarkRecovered(); err != nil {
		return err
	}
	c.recovered = true
	return nil
}

// Iterator flushes, so that the storage's snapshot holds every write but
// those still waiting for their changelog acknowledgement.
func (c *cachedStorage) Iterator() (storage.Iterator, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		return nil, err
	}
	return c.Storage.Iterator()
}

// IteratorWithRange flushes, like Iterator.
func (c *cachedStorage) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		return nil, err
	}
	return c.Storage.IteratorWithRange(start, limit)
}

// Close writes everything through, but the writes still waiting for their
// changelog acknowledgement, and closes the storage.
func (c *cachedStorage) Close() error {
	if c.release != nil {
		c.release()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ferr := c.flushLocked()
	if err := c.Storage.Close(); err != nil {
		return err
	}
	return ferr
}
