package tables_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/tables"
)

// TestBuilderLayout pins where the builder puts a partition: goka's layout.
func TestBuilderLayout(t *testing.T) {
	dir := t.TempDir()
	st, err := tables.Builder(dir)("clicks-table", 3)
	if err != nil {
		t.Fatalf("build = %v, want nil", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "clicks-table.3" {
		t.Fatalf("data dir holds %v (%v), want only clicks-table.3", entries, err)
	}
	st, err = tables.Open(filepath.Join(dir, "clicks-table.3"))
	if err != nil {
		t.Fatalf("Open(clicks-table.3) = %v, want nil", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
}

// TestBuilderRecreates pins that a deleted state directory is created again,
// empty, without error: goka then recovers it from the changelog.
func TestBuilderRecreates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delete func(dir string) string
	}{
		{"partition dir", func(dir string) string { return filepath.Join(dir, "t.0") }},
		{"data dir", func(dir string) string { return dir }},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			if err := st.Close(); err != nil {
				t.Fatalf("Close() = %v, want nil", err)
			}
			if err := os.RemoveAll(tc.delete(dir)); err != nil {
				t.Fatal(err)
			}
			st, err = build("t", 0)
			if err != nil {
				t.Fatalf("build after deleting the %s = %v, want nil", tc.name, err)
			}
			defer st.Close()
			if v, err := st.Get("k"); v != nil || err != nil {
				t.Fatalf("Get(k) = %q, %v; want nil, nil", v, err)
			}
			if off, err := st.GetOffset(-1); off != -1 || err != nil {
				t.Fatalf("GetOffset(-1) = %d, %v; want -1, nil", off, err)
			}
		})
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
