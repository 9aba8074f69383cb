package tables_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/tables"
)

func open(t *testing.T, dir string, opts ...tables.Option) *tables.Store {
	t.Helper()
	st, err := tables.Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestIteratorAfterClose pins that an iterator open across Close of its store
// stops with ErrClosed instead of reading freed memory.
func TestIteratorAfterClose(t *testing.T) {
	st := open(t, t.TempDir())
	if err := st.Set("a", []byte("1")); err != nil {
		t.Fatalf("Set() = %v, want nil", err)
	}
	it, err := st.Iterator()
	if err != nil {
		t.Fatalf("Iterator() = %v, want nil", err)
	}
	if !it.Next() {
		t.Fatalf("Next() = false, want true")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if it.Next() || it.Seek([]byte("a")) || it.Key() != nil {
		t.Fatalf("after Close: Next, Seek, Key = %t, %t, %q; want false, false, nil", it.Next(), it.Seek([]byte("a")), it.Key())
	}
	if v, err := it.Value(); v != nil || err != nil {
		t.Fatalf("after Close: Value = %q, %v; want nil, nil", v, err)
	}
	if err := it.Err(); !errors.Is(err, tables.ErrClosed) {
		t.Fatalf("after Close: Err = %v, want %v", err, tables.ErrClosed)
	}
	it.Release()
	it.Release()
}

// TestSeekHidesOffset pins where this store differs from goka's LevelDB
// storage, whose Seek can land on the offset key: Seek hides it too.
func TestSeekHidesOffset(t *testing.T) {
	st := open(t, t.TempDir())
	for _, k := range []string{"A", "a"} {
		if err := st.Set(k, []byte(k)); err != nil {
			t.Fatalf("Set(%s) = %v, want nil", k, err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatalf("MarkRecovered() = %v, want nil", err)
	}
	if err := st.SetOffset(1); err != nil {
		t.Fatalf("SetOffset() = %v, want nil", err)
	}
	it, err := st.Iterator()
	if err != nil {
		t.Fatalf("Iterator() = %v, want nil", err)
	}
	defer it.Release()
	if !it.Seek([]byte("__")) || string(it.Key()) != "a" {
		t.Fatalf("Seek(__) lands on %q, want a", it.Key())
	}
}

// TestOpenTwice pins that a second store on the same path fails to open
// instead of sharing the files.
func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	if st, err := tables.Open(dir); err == nil {
		st.Close()
		t.Fatalf("second Open() = nil error, want one")
	}
}

// TestLogger pins that the store logs recovery through WithLogger, with the
// builder's topic and partition.
func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := tables.Builder(t.TempDir(), tables.WithLogger(logger))("clicks", 2)
	if err != nil {
		t.Fatalf("build = %v, want nil", err)
	}
	defer st.Close()
	if err := st.SetOffset(41); err != nil {
		t.Fatalf("SetOffset() = %v, want nil", err)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatalf("MarkRecovered() = %v, want nil", err)
	}
	want := `msg="tables: recovered" topic=clicks partition=2 offset=41`
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("log = %q, want it to contain %q", buf.String(), want)
	}
}
