package tables_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/tables"
)

// writeOldLayout writes partitions 0-2 of tables a-table and b-table in
// dir's per-partition layout (dir/TOPIC.PARTITION, a database each, as
// sluice wrote them before one database per directory): [tables.Open] writes
// that format. Partition p of table t holds keys k0..k9 = "t/p/i" and
// offset 100+p; partition 2 of b-table was closed amid recovery, with writes
// pending.
func writeOldLayout(t *testing.T, dir string) {
	t.Helper()
	for _, table := range []string{"a-table", "b-table"} {
		for p := range 3 {
			st, err := tables.Open(filepath.Join(dir, fmt.Sprintf("%s.%d", table, p)))
			if err != nil {
				t.Fatal(err)
			}
			if !(table == "b-table" && p == 2) {
				if err := st.MarkRecovered(); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 10 {
				if err := st.Set(fmt.Sprintf("k%d", i), fmt.Appendf(nil, "%s/%d/%d", table, p, i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.SetOffset(int64(100 + p)); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMigrateOldLayout writes a data directory in the per-partition layout
// and opens it with the builder: every partition is read into the one
// database, with its keys and offset, the old directories are gone, and one
// log line says the stores were read.
func TestMigrateOldLayout(t *testing.T) {
	dir := t.TempDir()
	writeOldLayout(t, dir)
	var logs bytes.Buffer
	build := tables.Builder(dir, tables.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	var open []interface{ Close() error }
	defer func() {
		for _, st := range open {
			st.Close()
		}
	}()
	for _, table := range []string{"a-table", "b-table"} {
		for p := range int32(3) {
			st, err := build(table, p)
			if err != nil {
				t.Fatalf("build %s/%d = %v, want nil", table, p, err)
			}
			open = append(open, st)
			if off, err := st.GetOffset(-1); off != int64(100+p) || err != nil {
				t.Errorf("%s/%d: GetOffset = %d, %v; want %d, nil", table, p, off, err, 100+p)
			}
			it, err := st.Iterator()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for it.Next() {
				v, _ := it.Value()
				got = append(got, string(it.Key())+"="+string(v))
			}
			it.Release()
			var want []string
			for i := range 10 {
				want = append(want, fmt.Sprintf("k%d=%s/%d/%d", i, table, p, i))
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s/%d holds %q, want %q", table, p, got, want)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("data dir still holds %s after the migration", e.Name())
		}
	}
	if n := strings.Count(logs.String(), "per-partition layout"); n != 1 {
		t.Fatalf("log has %d lines about the old layout, want 1:\n%s", n, logs.String())
	}
	if want := `msg="tables: read the stores of the per-partition layout into one database"`; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "partitions=6 keys=60") {
		t.Fatalf("log = %q, want %s with partitions=6 keys=60", logs.String(), want)
	}
}

// TestMigrateUnreadable pins that a partition directory of the old layout
// that cannot be read is left to the changelog: the partition opens empty
// (goka recovers it from the start), the readable ones keep their data, and
// the one log line names the partition rebuilt. A directory left by a
// migration that crashed amid removing it is removed.
func TestMigrateUnreadable(t *testing.T) {
	dir := t.TempDir()
	writeOldLayout(t, dir)
	broken := filepath.Join(dir, "c-table.0")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"LOCK", "CURRENT", "MANIFEST-000001"} {
		if err := os.WriteFile(filepath.Join(broken, f), []byte("not a database"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	leftover := filepath.Join(dir, "a-table.7.migrated")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	build := tables.Builder(dir, tables.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	st, err := build("c-table", 0)
	if err != nil {
		t.Fatalf("build c-table/0 = %v, want nil", err)
	}
	defer st.Close()
	if off, err := st.GetOffset(-1); off != -1 || err != nil {
		t.Errorf("unreadable partition: GetOffset = %d, %v; want -1 (recover it all), nil", off, err)
	}
	a, err := build("a-table", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if v, err := a.Get("k3"); string(v) != "a-table/1/3" || err != nil {
		t.Errorf("a-table/1 Get(k3) = %q, %v; want a-table/1/3", v, err)
	}
	for _, d := range []string{broken, leftover} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s after the migration: %v, want it gone", d, err)
		}
	}
	if !strings.Contains(logs.String(), `rebuilt_from_changelog=[c-table.0]`) || !strings.Contains(logs.String(), "read=6") {
		t.Fatalf("log = %q, want the read and rebuilt partitions named", logs.String())
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("log has %d lines, want 1:\n%s", n, logs.String())
	}
}
