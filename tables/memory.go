package tables

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// minMemTableSize is the least memtable a [Memory] gives a database.
const minMemTableSize = 1 << 20

// Memory is one memory budget for the databases of a process: a block cache
// that all of them share, and memtables sized so that all of theirs together
// fit in half of it (Pebble counts memtables in the cache). Pass it to each database's builder with [WithMemory].
//
// A Memory is safe for concurrent use. Close it once its databases are no
// longer opened; a database open at that moment keeps the cache until it
// closes.
type Memory struct {
	bytes        int64
	cache        *pebble.Cache
	memTableSize uint64
	once         sync.Once
}

// NewMemory returns a budget of bytes for the block cache and memtables of
// up to databases databases (at least 1). Pebble counts memtables in its
// block cache (each reserves its size there while it lives), so the budget is
// one cache of bytes shared by all the databases: memtables take at most half
// of it, and the rest, at least half, holds blocks for Gets that miss a
// memtable, of any database. Pebble keeps up to two memtables per database
// (one filling, one being flushed), so each database gets memtables of
// bytes/2/(2*databases), at least 1 MiB. More databases than planned still
// work, their memtables taking more of the cache. Memtables and the cache
// fill as data comes: a small table takes little of either.
//
// Not counted: recovery batches (at most 4 MiB per partition being
// recovered, see [RecoveryBatchSize]; Pebble reserves a large one in the
// cache too while it waits to be flushed), iterators, and the index and
// filter blocks Pebble pins for open sstables. NewMemory fails if bytes is
// under 4 MiB.
func NewMemory(bytes int64, databases int) (*Memory, error) {
	if bytes < 4<<20 {
		return nil, fmt.Errorf("tables: a memory budget needs at least 4 MiB, got %d bytes", bytes)
	}
	databases = max(databases, 1)
	mt := max(uint64(bytes)/2/uint64(2*databases), minMemTableSize)
	mt = min(mt, maxMemTableSize)
	return &Memory{bytes: bytes, cache: pebble.NewCache(bytes), memTableSize: mt}, nil
}

// MemTableSize returns the size of each database's memtables.
func (m *Memory) MemTableSize() uint64 { return m.memTableSize }

// CacheSize returns the part of the budget that holds blocks whatever the
// memtables use: half of it. Blocks also use what memtables leave free.
func (m *Memory) CacheSize() int64 { return m.bytes / 2 }

// Close releases the budget's hold on the cache; databases still open keep
// it until they close. Further calls do nothing.
func (m *Memory) Close() {
	m.once.Do(m.cache.Unref)
}

// WithMemory makes stores take their block cache and memtable size from m,
// overriding [CacheSize] and [MemTableSize].
func WithMemory(m *Memory) Option {
	return optionFunc(func(c *config) { c.memory = m })
}
