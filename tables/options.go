package tables

import (
	"fmt"
	"log/slog"
)

// Defaults of the options. The sizes are per database, which a [Builder]
// shares among all partitions it builds (see [WithMemory] for one budget
// across databases); Pebble grows its memtable from 256 KiB up to the limit
// and fills the cache on demand, so a small table does not pay for them.
const (
	defaultCacheSize         = 64 << 20
	defaultMemTableSize      = 64 << 20
	defaultRecoveryBatchSize = 1000
	// maxMemTableSize is Pebble's limit: less than 4 GiB.
	maxMemTableSize = 1<<32 - 2
)

// An Option configures [Open] and [Builder]. Later options override earlier ones.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	cacheSize         int64
	memTableSize      uint64
	recoveryBatchSize int
	logger            *slog.Logger
	memory            *Memory // if set, overrides cacheSize and memTableSize
}

func newConfig(opts []Option) config {
	c := config{
		cacheSize:         defaultCacheSize,
		memTableSize:      defaultMemTableSize,
		recoveryBatchSize: defaultRecoveryBatchSize,
		logger:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

func (c *config) validate() error {
	switch {
	case c.cacheSize <= 0:
		return fmt.Errorf("tables: CacheSize must be positive, got %d", c.cacheSize)
	case c.memTableSize < 1<<20 || c.memTableSize >= 1<<32-1:
		return fmt.Errorf("tables: MemTableSize must be at least 1 MiB and less than 4 GiB, got %d", c.memTableSize)
	case c.recoveryBatchSize <= 0:
		return fmt.Errorf("tables: RecoveryBatchSize must be positive, got %d", c.recoveryBatchSize)
	case c.logger == nil:
		return fmt.Errorf("tables: WithLogger needs a logger, got nil")
	case c.memory != nil && c.memory.cache == nil:
		return fmt.Errorf("tables: WithMemory needs a budget made by NewMemory")
	}
	return nil
}

// CacheSize sets the size in bytes of the database's block cache, overriding
// the default of 64 MiB (Pebble's own default is 8 MiB). Gets that miss the
// memtable read sstable blocks, from the cache when they are in it. Pebble
// counts memtables in its cache: the cache a database opens with is
// CacheSize plus two memtables (see [MemTableSize]), so that CacheSize is
// left for blocks.
func CacheSize(bytes int64) Option {
	return optionFunc(func(c *config) { c.cacheSize = bytes })
}

// MemTableSize sets the largest memtable size in bytes, overriding the default
// of 64 MiB (Pebble's own default is 4 MiB). A larger memtable answers more
// Gets from memory and flushes less often. It must be at least 1 MiB and less
// than 4 GiB.
func MemTableSize(bytes uint64) Option {
	return optionFunc(func(c *config) { c.memTableSize = bytes })
}

// RecoveryBatchSize sets how many records (calls of SetOffset) recovery
// collects in one Pebble batch before committing it, overriding the default of
// 1000. Batches of 100 to 1000 records recovered fastest here; 10,000 was
// slower again. A batch is also committed once it holds 4 MiB, whatever n is.
func RecoveryBatchSize(n int) Option {
	return optionFunc(func(c *config) { c.recoveryBatchSize = n })
}

// WithLogger sets the logger of the store and of Pebble inside it, overriding
// the default that discards everything. A store logs opening and recovery at
// Debug, a [Builder] the reading of the per-partition layout at Info (one
// line per directory); Pebble's own informational messages are logged at
// Debug.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}
