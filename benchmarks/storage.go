package benchmarks

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// Stores names the storages the storage workloads compare: sluice's Pebble
// store and goka's LevelDB (its default) and memory storages.
var Stores = []string{"pebble", "leveldb", "memory"}

// StorageConfig configures a storage workload.
type StorageConfig struct {
	// Store is one of [Stores].
	Store string
	// Dir is where a persistent store lives; it is created if missing.
	Dir string
	// Keys is the number of distinct keys; zero means 100,000.
	Keys int
}

func (c StorageConfig) keys() int {
	if c.Keys <= 0 {
		return 100_000
	}
	return c.Keys
}

// OpenStore opens partition 0 of a table in dir with the named storage's
// builder and calls Open, as goka does. The store is in recovery mode.
func OpenStore(store, dir string) (storage.Storage, error) {
	var build storage.Builder
	switch store {
	case "pebble":
		build = tables.Builder(dir)
	case "leveldb":
		build = storage.DefaultBuilder(dir)
	case "memory":
		build = storage.MemoryBuilder()
	default:
		return nil, fmt.Errorf("benchmarks: unknown store %q, want one of %q", store, Stores)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st, err := build("table", 0)
	if err != nil {
		return nil, fmt.Errorf("benchmarks: build %s store: %w", store, err)
	}
	if err := st.Open(); err != nil {
		return nil, fmt.Errorf("benchmarks: open %s store: %w", store, err)
	}
	return st, nil
}

// Replay writes records changelog records over keys keys (record i sets key
// i mod keys to an 8-byte value) through st as goka's partition table
// recovers: Set and SetOffset per record, then MarkRecovered.
func Replay(st storage.Storage, records, keys int) error {
	names := keyNames(keys)
	for i := range records {
		if err := st.Set(names[i%keys], binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
			return err
		}
		if err := st.SetOffset(int64(i)); err != nil {
			return err
		}
	}
	return st.MarkRecovered()
}

// UpdateWorkload is goka's per-message table access in a counting processor:
// Get the key's value, Set the incremented 8-byte count, and SetOffset when
// the changelog write is acknowledged, for random keys of a recovered table
// in which every key exists.
type UpdateWorkload struct {
	st     storage.Storage
	keys   []string
	rng    *rand.Rand
	offset int64
}

// NewUpdateWorkload opens the store of cfg and writes every key once by
// [Replay]. That takes long for goka's memory storage, which sorts all its
// keys for each new key (17 s for 100,000 keys here); updates of existing keys
// do not.
func NewUpdateWorkload(cfg StorageConfig) (*UpdateWorkload, error) {
	st, err := OpenStore(cfg.Store, cfg.Dir)
	if err != nil {
		return nil, err
	}
	n := cfg.keys()
	if err := Replay(st, n, n); err != nil {
		return nil, fmt.Errorf("benchmarks: populate %s store: %w", cfg.Store, err)
	}
	return &UpdateWorkload{
		st:     st,
		keys:   keyNames(n),
		rng:    rand.New(rand.NewPCG(1, 2)),
		offset: int64(n),
	}, nil
}

// Run processes n messages.
func (w *UpdateWorkload) Run(n int) error {
	for range n {
		key := w.keys[w.rng.IntN(len(w.keys))]
		v, err := w.st.Get(key)
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("benchmarks: value of %s has %d bytes, want 8", key, len(v))
		}
		// A new slice each time: goka's memory storage keeps it.
		next := binary.BigEndian.AppendUint64(make([]byte, 0, 8), binary.BigEndian.Uint64(v)+1)
		if err := w.st.Set(key, next); err != nil {
			return err
		}
		w.offset++
		if err := w.st.SetOffset(w.offset); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the store.
func (w *UpdateWorkload) Close() error { return w.st.Close() }

func keyNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("user-%08d", i)
	}
	return names
}
