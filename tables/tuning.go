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
		// Block cache and memtable: see [CacheSize], [MemTableSize] and
		// [WithMemory]. Pebble reserves each live memtable's size in the
		// block cache, so a cache of CacheSize alone would hold no blocks
		// at all beside memtables as large as it (the defaults): the cache
		// has room for two memtables (one filling, one being flushed) beside
		// CacheSize of blocks.
		CacheSize:    c.cacheSize + 2*int64(c.memTableSize),
		MemTableSize: c.memTableSize,
		// Pinned, as Pebble recommends, so that an upgrade of Pebble does not
		// silently ratchet the on-disk format of existing stores.
		FormatMajorVersion: pebble.FormatValueSeparation,
		Logger:             pebbleLogger{c.logger},
		// The plain file system, not Pebble's default wrapper that times
		// every operation to report slow disks: it reports them only to an
		// EventListener, which a store does not install, and it runs a
		// goroutine per store that Pebble v2.1.7 leaks when Open fails.
		//
		// Without preallocation: Pebble preallocates each write-ahead log
		// file to 110% of the memtable size, which saves file-size updates at
		// each sync. Writes here are not synced (see offsetName), and the
		// preallocation cost every store of the per-partition layout 71 MB
		// of disk whatever it held; a log now takes what was written to it.
		FS: noPreallocFS{vfs.Default},
	}
	if m := c.memory; m != nil {
		o.Cache = m.cache // Open takes its own reference
		o.MemTableSize = m.memTableSize
	}
	return o
}

// noPreallocFS is a file system whose files ignore Preallocate.
type noPreallocFS struct{ vfs.FS }

func (fs noPreallocFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return noPrealloc(fs.FS.Create(name, category))
}

func (fs noPreallocFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return noPrealloc(fs.FS.OpenReadWrite(name, category, opts...))
}

func (fs noPreallocFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return noPrealloc(fs.FS.ReuseForWrite(oldname, newname, category))
}

func noPrealloc(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noPreallocFile{f}, nil
}

// noPreallocFile is a file whose Preallocate does nothing.
type noPreallocFile struct{ vfs.File }

func (noPreallocFile) Preallocate(offset, length int64) error { return nil }
