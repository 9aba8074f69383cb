package tables

import (
	"fmt"
	"testing"
)

// TestCacheHoldsBlocksBesideMemtables pins the block cache's room: Pebble
// reserves each live memtable's size in its block cache, so a cache sized
// as the blocks alone (CacheSize, or half a Memory) held next to no blocks
// beside memtables of its size, and every Get of a flushed key read its
// block from the file again. A table of half the cache, flushed and read
// twice, must be read from the cache the second time.
func TestCacheHoldsBlocksBesideMemtables(t *testing.T) {
	const (
		keys  = 20_000
		value = 200 // bytes: about 4 MiB of blocks in all
	)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (*Store, error)
	}{
		{"Open with CacheSize", func(t *testing.T) (*Store, error) {
			return Open(t.TempDir(), CacheSize(8<<20), MemTableSize(4<<20))
		}},
		{"Builder with a Memory", func(t *testing.T) (*Store, error) {
			m, err := NewMemory(16<<20, 1) // 8 MiB for blocks, memtables of 4 MiB
			if err != nil {
				return nil, err
			}
			t.Cleanup(m.Close)
			st, err := Builder(t.TempDir(), WithMemory(m))("t", 0)
			if err != nil {
				return nil, err
			}
			return st.(*Store), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.MarkRecovered(); err != nil {
				t.Fatal(err)
			}
			v := make([]byte, value)
			for i := range keys {
				if err := s.Set(fmt.Sprintf("key-%06d", i), v); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.mu.db.Flush(); err != nil {
				t.Fatal(err)
			}
			read := func() (misses int64) {
				before := s.mu.db.Metrics().BlockCache.Misses
				for i := range keys {
					if b, err := s.Get(fmt.Sprintf("key-%06d", i)); err != nil || len(b) != value {
						t.Fatalf("Get key-%06d = %d bytes, %v", i, len(b), err)
					}
				}
				return s.mu.db.Metrics().BlockCache.Misses - before
			}
			first, second := read(), read()
			t.Logf("block cache misses: %d reading every key, then %d", first, second)
			if first == 0 {
				t.Fatalf("no block read on the first pass: the keys were not flushed")
			}
			if second > 0 {
				t.Errorf("%d block cache misses reading %d keys of %d bytes a second time: the cache did not keep them", second, keys, value)
			}
		})
	}
}
