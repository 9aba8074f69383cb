package tables

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// dbGet reads key from the database itself, past the pending batch.
func dbGet(t *testing.T, s *Store, key string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, closer, err := s.mu.db.Get(s.key(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("db.Get(%q) = %v, want nil error", key, err)
	}
	defer closer.Close()
	return bytes.Clone(v)
}

func mustOpen(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s
}

// TestRecoveryBatch pins when recovery writes reach the database: at the
// SetOffset that fills the batch, with the offset, and not before; reads see
// them all along.
func TestRecoveryBatch(t *testing.T) {
	s := mustOpen(t, t.TempDir(), RecoveryBatchSize(3))
	for _, step := range []struct {
		name     string
		do       func() error
		key      string
		want     string // what Get returns
		inDB     string // what the database holds
		offset   int64  // GetOffset(-1)
		dbOffset string // the database's offset key
	}{
		{"set 1", func() error { return s.Set("k1", []byte("v1")) }, "k1", "v1", "", -1, ""},
		{"offset 1", func() error { return s.SetOffset(1) }, "k1", "v1", "", 1, ""},
		{"set 2", func() error { return s.Set("k2", []byte("v2")) }, "k2", "v2", "", 1, ""},
		{"offset 2", func() error { return s.SetOffset(2) }, "k2", "v2", "", 2, ""},
		{"set 3", func() error { return s.Set("k3", []byte("v3")) }, "k3", "v3", "", 2, ""},
		{"offset 3 commits", func() error { return s.SetOffset(3) }, "k1", "v1", "v1", 3, "3"},
		{"set 4", func() error { return s.Set("k4", []byte("v4")) }, "k4", "v4", "", 3, "3"},
		{"delete 1", func() error { return s.Delete("k1") }, "k1", "", "v1", 3, "3"},
		{"offset 4", func() error { return s.SetOffset(4) }, "k4", "v4", "", 4, "3"},
		{"mark recovered commits", s.MarkRecovered, "k4", "v4", "v4", 4, "4"},
		{"deleted", func() error { return nil }, "k1", "", "", 4, "4"},
		{"set 5 is direct", func() error { return s.Set("k5", []byte("v5")) }, "k5", "v5", "v5", 4, "4"},
		{"offset 5 is direct", func() error { return s.SetOffset(5) }, "k5", "v5", "v5", 5, "5"},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: got error %v, want nil", step.name, err)
		}
		if got, err := s.Get(step.key); string(got) != step.want || err != nil {
			t.Errorf("%s: Get(%s) = %q, %v; want %q, nil", step.name, step.key, got, err, step.want)
		}
		if got, err := s.Has(step.key); got != (step.want != "") || err != nil {
			t.Errorf("%s: Has(%s) = %t, %v; want %t, nil", step.name, step.key, got, err, step.want != "")
		}
		if got := dbGet(t, s, step.key); string(got) != step.inDB {
			t.Errorf("%s: database holds %s=%q, want %q", step.name, step.key, got, step.inDB)
		}
		if got, err := s.GetOffset(-1); got != step.offset || err != nil {
			t.Errorf("%s: GetOffset(-1) = %d, %v; want %d, nil", step.name, got, err, step.offset)
		}
		if got := dbGet(t, s, offsetName); string(got) != step.dbOffset {
			t.Errorf("%s: database offset = %q, want %q", step.name, got, step.dbOffset)
		}
	}
}

// TestRecoveryBatchBytes pins that large writes commit the batch before it
// holds RecoveryBatchSize records, bounding its memory, with the offset of
// the last complete record.
func TestRecoveryBatchBytes(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	half := bytes.Repeat([]byte("x"), maxPendingBytes/2)
	for _, step := range []struct {
		name   string
		do     func() error
		inDB   string // a key in the database after step
		offset string // the database's offset key after step
	}{
		{"set a", func() error { return s.Set("a", half) }, "", ""},
		{"offset 1", func() error { return s.SetOffset(1) }, "", ""},
		{"set b commits", func() error { return s.Set("b", half) }, "b", "1"},
		{"offset 2", func() error { return s.SetOffset(2) }, "b", "1"},
		{"set c", func() error { return s.Set("c", half) }, "b", "1"},
		{"set d commits", func() error { return s.Set("d", half) }, "d", "2"},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: got error %v, want nil", step.name, err)
		}
		if step.inDB != "" && dbGet(t, s, step.inDB) == nil {
			t.Errorf("%s: database lacks %s, want it committed", step.name, step.inDB)
		}
		if got := dbGet(t, s, offsetName); string(got) != step.offset {
			t.Errorf("%s: database offset = %q, want %q", step.name, got, step.offset)
		}
	}
}

// TestIteratorDuringRecovery pins that an iterator created during recovery
// sees the pending writes (it commits them), and nothing written after.
func TestIteratorDuringRecovery(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	if err := s.Set("a", []byte("1")); err != nil {
		t.Fatalf("Set(a) = %v, want nil", err)
	}
	it, err := s.Iterator()
	if err != nil {
		t.Fatalf("Iterator() = %v, want nil", err)
	}
	defer it.Release()
	if err := s.Set("b", []byte("2")); err != nil {
		t.Fatalf("Set(b) = %v, want nil", err)
	}
	var got []string
	for it.Next() {
		got = append(got, string(it.Key()))
	}
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("iterated %q, want [a]", got)
	}
	if got := dbGet(t, s, "b"); got != nil {
		t.Fatalf("database holds b=%q, want it pending", got)
	}
}

// TestApply pins Apply: once recovered, writes and offset are one commit
// (the database holds all of them after it, none before); during recovery
// they join the pending batch as Set, Delete and SetOffset do; after Close it
// fails with ErrClosed.
func TestApply(t *testing.T) {
	s := mustOpen(t, t.TempDir(), RecoveryBatchSize(2))
	if err := s.Set("gone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply([]Write{{Key: "a", Value: []byte("1")}, {Key: "gone", Delete: true}}, 5, true); err != nil {
		t.Fatalf("Apply during recovery = %v, want nil", err)
	}
	if got := dbGet(t, s, "a"); got != nil {
		t.Fatalf("database holds a=%q during recovery before the batch is full, want it pending", got)
	}
	if got, err := s.Get("a"); string(got) != "1" || err != nil {
		t.Fatalf("Get(a) = %q, %v; want 1 from the pending batch", got, err)
	}
	if off, _ := s.GetOffset(-1); off != 5 {
		t.Fatalf("GetOffset = %d, want 5", off)
	}
	if err := s.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply([]Write{{Key: "b", Value: nil}, {Key: "a", Delete: true}}, 9, true); err != nil {
		t.Fatalf("Apply = %v, want nil", err)
	}
	for key, want := range map[string]string{"a": "", "gone": "", "b": "", offsetName: "9"} {
		if got := dbGet(t, s, key); string(got) != want {
			t.Errorf("database %s = %q, want %q", key, got, want)
		}
	}
	if has, _ := s.Has("b"); !has {
		t.Errorf("Has(b) = false after Apply of a nil value, want an empty value stored")
	}
	if err := s.Apply(nil, 10, false); err != nil {
		t.Fatalf("empty Apply = %v, want nil", err)
	}
	if got := dbGet(t, s, offsetName); string(got) != "9" {
		t.Errorf("offset after Apply without one = %q, want 9", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(nil, 0, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v, want %v", err, ErrClosed)
	}
}
