package tables

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// bloomBitsPerKey gives filters a false-positive rate of about 1%: more bits
// buy little, as a false positive costs one cached block read.
const bloomBitsPerKey = 10

// pebbleOptions returns the Pebble options of a store. For goka's access
// pattern (Get, Set, SetOffset per message) Pebble's defaults (4 MiB memtable,
// 8 MiB cache, no filters) measured 3 to 5 times slower than these options,
// and slower than goka's LevelDB storage; with them Pebble is about twice as
// fast as LevelDB (see benchmarks.BenchmarkStorageUpdate). Options not set
// here keep Pebble's defaults on purpose: one compaction at a time suits a
// machine that runs one store per partition on few cores.
func (c *config) pebbleOptions() *pebble.Options {
	o := &pebble.Options{
		// goka Gets every key it updates, and a first update Gets a key that
		// does not exist. Without filters such a Get reads an index and a data
		// block of every overlapping sstable; with them it mostly reads none.
		// Pebble's default has no filter at all and L0, whose files overlap
		// and are all consulted, needs one most.
		Levels: func() (l [7]pebble.LevelOptions) {
			for i := range l {
				l[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
			}
			return l
		}(),
		// Block cache and memtable: see [CacheSize] and [MemTableSize].
		CacheSize:    c.cacheSize,
		MemTableSize: c.memTableSize,
		// Pinned, as Pebble recommends, so that an upgrade of Pebble does not
		// silently ratchet the on-disk format of existing stores.
		FormatMajorVersion: pebble.FormatValueSeparation,
		Logger:             pebbleLogger{c.logger},
		// The plain file system, not Pebble's default wrapper that times
		// every operation to report slow disks: it reports them only to an
		// EventListener, which a store does not install, and it runs a
		// goroutine per store that Pebble v2.1.7 leaks when Open fails.
		FS: vfs.Default,
	}
	return o
}
