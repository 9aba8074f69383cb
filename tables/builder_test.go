package tables_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// TestBuilderLayout pins the layout: every partition a builder builds lives
// in one database in its directory, not in a directory of its own, and the
// database is closed with its last partition (so that Open, which locks the
// directory, succeeds then and not before).
func TestBuilderLayout(t *testing.T) {
	dir := t.TempDir()
	build := tables.Builder(dir)
	var stores []storage.Storage
	for p := range int32(64) {
		st, err := build("clicks-table", p)
		if err != nil {
			t.Fatalf("build partition %d = %v, want nil", p, err)
		}
		stores = append(stores, st)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("data dir holds directory %s, want one database's files only", e.Name())
		}
	}
	for i, st := range stores {
		if err := st.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		if st, err := tables.Open(dir); err == nil {
			st.Close()
			if i < len(stores)-1 {
				t.Fatalf("Open(dir) with %d partitions open = nil error, want the database locked", len(stores)-1-i)
			}
		} else if i == len(stores)-1 {
			t.Fatalf("Open(dir) after the last partition closed = %v, want the database closed", err)
		}
	}
}

// TestBuilderPartitionOpenTwice pins that a partition is open once at a time,
// and can be opened again after Close.
func TestBuilderPartitionOpenTwice(t *testing.T) {
	build := tables.Builder(t.TempDir())
	st, err := build("t", 3)
	if err != nil {
		t.Fatalf("build = %v, want nil", err)
	}
	defer st.Close()
	if _, err := build("t", 3); !errors.Is(err, tables.ErrOpen) {
		t.Fatalf("second build of t/3 = %v, want %v", err, tables.ErrOpen)
	}
	other, err := build("t", 4)
	if err != nil {
		t.Fatalf("build t/4 = %v, want nil", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if other, err = build("t", 4); err != nil {
		t.Fatalf("build t/4 after Close = %v, want nil", err)
	}
	other.Close()
}

// TestBuilderKeepsRevoked pins what a revoked partition's data becomes: it
// stays, and the partition opens with its keys and offset when it comes
// back, whether the database stayed open for other partitions meanwhile or
// was closed.
func TestBuilderKeepsRevoked(t *testing.T) {
	for _, others := range []bool{true, false} {
		t.Run(fmt.Sprintf("others open=%t", others), func(t *testing.T) {
			build := tables.Builder(t.TempDir())
			if others {
				st, err := build("t", 1)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			}
			st, err := build("t", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.MarkRecovered(); err != nil {
				t.Fatal(err)
			}
			if err := st.Set("k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if err := st.SetOffset(41); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st, err = build("t", 0)
			if err != nil {
				t.Fatalf("build after revoking = %v, want nil", err)
			}
			defer st.Close()
			if v, err := st.Get("k"); string(v) != "v" || err != nil {
				t.Fatalf("Get(k) = %q, %v; want v, nil", v, err)
			}
			if off, err := st.GetOffset(-1); off != 41 || err != nil {
				t.Fatalf("GetOffset(-1) = %d, %v; want 41, nil", off, err)
			}
		})
	}
}

// TestBuilderRecreates pins that a deleted data directory is created again,
// empty, without error, once its partitions closed: goka then recovers them
// from the changelog. It is deleted while a partition is open, as an
// operator wiping a running agent's state does.
func TestBuilderRecreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	build := tables.Builder(dir)
	st, err := build("t", 0)
	if err != nil {
		t.Fatalf("build = %v, want nil", err)
	}
	if err := st.Set("k", []byte("v")); err != nil {
		t.Fatalf("Set() = %v, want nil", err)
	}
	if err := st.SetOffset(7); err != nil {
		t.Fatalf("SetOffset() = %v, want nil", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	_ = st.Close() // may fail: its files are gone
	st, err = build("t", 0)
	if err != nil {
		t.Fatalf("build after deleting the data dir = %v, want nil", err)
	}
	defer st.Close()
	if v, err := st.Get("k"); v != nil || err != nil {
		t.Fatalf("Get(k) = %q, %v; want nil, nil", v, err)
	}
	if off, err := st.GetOffset(-1); off != -1 || err != nil {
		t.Fatalf("GetOffset(-1) = %d, %v; want -1, nil", off, err)
	}
}

// TestInvalidOptions pins that Open and the builder reject bad options.
func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  tables.Option
	}{
		{"cache size", tables.CacheSize(0)},
		{"memtable size", tables.MemTableSize(1 << 10)},
		{"recovery batch", tables.RecoveryBatchSize(0)},
		{"logger", tables.WithLogger(nil)},
		{"memory", tables.WithMemory(&tables.Memory{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if st, err := tables.Open(dir, tc.opt); err == nil {
				st.Close()
				t.Fatalf("Open() = nil error, want one")
			}
			if _, err := tables.Builder(dir, tc.opt)("t", 0); err == nil {
				t.Fatalf("build = nil error, want one")
			}
		})
	}
}

// TestMemory pins how a budget is split: half for the shared cache, the rest
// for two memtables per database, at least 1 MiB each.
func TestMemory(t *testing.T) {
	for _, tc := range []struct {
		bytes     int64
		databases int
		cache     int64
		memtable  uint64
	}{
		{128 << 20, 1, 64 << 20, 32 << 20},
		{128 << 20, 8, 64 << 20, 4 << 20},
		{128 << 20, 0, 64 << 20, 32 << 20},
		{8 << 20, 100, 4 << 20, 1 << 20},
	} {
		m, err := tables.NewMemory(tc.bytes, tc.databases)
		if err != nil {
			t.Fatalf("NewMemory(%d, %d) = %v", tc.bytes, tc.databases, err)
		}
		if m.CacheSize() != tc.cache || m.MemTableSize() != tc.memtable {
			t.Errorf("NewMemory(%d, %d): cache %d, memtable %d; want %d, %d", tc.bytes, tc.databases, m.CacheSize(), m.MemTableSize(), tc.cache, tc.memtable)
		}
		m.Close()
		m.Close()
	}
	if _, err := tables.NewMemory(1<<20, 1); err == nil {
		t.Fatalf("NewMemory(1 MiB) = nil error, want one")
	}
}

// TestBuilderWipedWhileOpen pins what deleting a database's directory under
// open stores does: their writes fail with ErrWiped (Pebble, left to write
// there, would stop the process when it needs a new log file), and once
// they are closed the next build starts an empty database.
func TestBuilderWipedWhileOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	build := tables.Builder(dir)
	recovered, err := build("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	recovering, err := build("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := recovered.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := recovering.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	apply := recovered.(*tables.Store).Apply([]tables.Write{{Key: "k", Value: []byte("v")}}, 1, true)
	for name, err := range map[string]error{
		"Apply":                      apply,
		"Set after the wipe is seen": recovered.Set("k", []byte("v")),
		"SetOffset":                  recovered.SetOffset(2),
		"MarkRecovered":              recovering.MarkRecovered(),
	} {
		if !errors.Is(err, tables.ErrWiped) {
			t.Errorf("%s = %v, want %v", name, err, tables.ErrWiped)
		}
	}
	_ = recovered.Close() // their files are gone: errors are expected
	_ = recovering.Close()
	st, err := build("t", 0)
	if err != nil {
		t.Fatalf("build after the wipe = %v, want nil", err)
	}
	defer st.Close()
	if off, err := st.GetOffset(-1); off != -1 || err != nil {
		t.Fatalf("GetOffset(-1) = %d, %v; want -1, nil", off, err)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatalf("MarkRecovered on the new database = %v, want nil", err)
	}
	if err := st.(*tables.Store).Apply([]tables.Write{{Key: "k", Value: []byte("v")}}, 1, true); err != nil {
		t.Fatalf("Apply on the new database = %v, want nil", err)
	}
}

// TestBuilderSameDirectoryTwoNames pins that builders of one directory named
// two ways (relative and absolute) share its database instead of failing on
// its lock.
func TestBuilderSameDirectoryTwoNames(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	a, err := tables.Builder("state")("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := tables.Builder(filepath.Join(dir, "state"))("t", 1)
	if err != nil {
		t.Fatalf("build through the absolute path = %v, want the shared database", err)
	}
	defer b.Close()
	if _, err := tables.Builder("./state/")("t", 0); !errors.Is(err, tables.ErrOpen) {
		t.Fatalf("build of t/0 again through another name = %v, want %v", err, tables.ErrOpen)
	}
}

// TestDiskPerPartition pins what a partition costs on disk: 64 partitions,
// each with a few synced writes (each a write of the log file), leave well
// under 1 MiB after Close. Pebble's default preallocated each log file to
// 110% of the memtable (72 MB with the 64 MiB default), which the
// per-partition layout paid per partition.
func TestDiskPerPartition(t *testing.T) {
	dir := t.TempDir()
	build := tables.Builder(dir)
	var stores []storage.Storage
	for p := range int32(64) {
		st, err := build("t", p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkRecovered(); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	for i := range 5 {
		for _, st := range stores {
			if err := st.Set(fmt.Sprint("k", i), []byte("v")); err != nil {
				t.Fatal(err)
			}
			if err := st.SetOffset(int64(i)); err != nil {
				t.Fatal(err)
			}
			if err := st.(*tables.Store).Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, st := range stores {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var allocated int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocated > 1<<20 {
		t.Fatalf("64 partitions of 5 keys take %d bytes on disk, want under 1 MiB", allocated)
	}
}
