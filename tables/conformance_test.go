package tables_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// impl is a storage the conformance suite runs against, with the ways it is
// known to differ. A case that pins one of these skips the assertion for the
// storages without it; the field's comment says what they do instead.
type impl struct {
	name string
	// build builds the storage in dir as goka does, with a builder; the
	// harness then calls Open.
	build func(t testing.TB, dir string) (storage.Storage, error)
	// persists: data and offset survive Close (goka's memory storage keeps
	// nothing).
	persists bool
	// closeTwice: a second Close returns nil (goka's LevelDB storage panics:
	// it closes a channel twice).
	closeTwice bool
	// closedErr: every method returns an error that is closedErr after
	// Close. goka's memory storage goes on working after Close, and goka's
	// LevelDB storage fails some methods (Get, Set) but not others (Iterator
	// returns an empty iterator and no error).
	closedErr error
	// levelDBRanges: IteratorWithRange excludes limit, and nil start and limit
	// cover every key (goka's memory storage includes limit, and covers no
	// key for nil start and limit).
	levelDBRanges bool
	// seekGE: Seek finds the first key at or after its argument (goka's
	// memory storage finds the next key with its argument as prefix).
	seekGE bool
	// copies: Set copies the value and Get returns a copy (goka's memory
	// storage keeps and returns the caller's slice).
	copies bool
	// unpositionedNil: Key and Value return nil before the first Next (goka's
	// memory storage panics).
	unpositionedNil bool
	// storesNil: Set of a nil value stores an empty value (goka's memory
	// storage returns an error).
	storesNil bool
}

func impls() []impl {
	pebble := impl{
		name:            "pebble",
		persists:        true,
		closeTwice:      true,
		closedErr:       tables.ErrClosed,
		levelDBRanges:   true,
		unpositionedNil: true,
		seekGE:          true,
		copies:          true,
		storesNil:       true,
	}
	pebble.build = func(_ testing.TB, dir string) (storage.Storage, error) {
		return tables.Builder(dir)("table", 0)
	}
	// One record per batch commits on every SetOffset, where the default
	// batch of 1000 keeps all of a case's recovery writes pending.
	pebble1 := pebble
	pebble1.name = "pebble-batch1"
	pebble1.build = func(_ testing.TB, dir string) (storage.Storage, error) {
		return tables.Builder(dir, tables.RecoveryBatchSize(1))("table", 0)
	}
	// The partition shares its database with neighbours whose keys sort
	// right around its own and which stay open throughout: a key, offset or
	// iterator that crossed a partition's prefix would show.
	shared := pebble
	shared.name = "pebble-shared"
	shared.build = func(t testing.TB, dir string) (storage.Storage, error) {
		openNeighbours(t, dir)
		return tables.Builder(dir)("table", 0)
	}
	return []impl{
		pebble,
		pebble1,
		shared,
		{
			name: "leveldb",
			build: func(_ testing.TB, dir string) (storage.Storage, error) {
				return storage.DefaultBuilder(dir)("table", 0)
			},
			persists:        true,
			levelDBRanges:   true,
			unpositionedNil: true,
			seekGE:          true,
			copies:          true,
			storesNil:       true,
		},
		{
			name:       "memory",
			build:      func(testing.TB, string) (storage.Storage, error) { return storage.NewMemory(), nil },
			closeTwice: true,
		},
	}
}

// openNeighbours opens, once per test, the partitions next to partition 0 of
// "table" in dir's shared database, writes keys and offsets into them
// (recovered, and some pending recovery), and closes them when the test
// ends.
func openNeighbours(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); err == nil {
		return // the case reopens: the neighbours are open still
	}
	build := tables.Builder(dir)
	for i, n := range []struct {
		table     string
		partition int32
	}{{"table", 1}, {"table", -1}, {"tabl", 0}, {"table\x00", 0}, {"tablf", 0}, {"", 0}} {
		st, err := build(n.table, n.partition)
		if err != nil {
			t.Fatalf("neighbour %q/%d: %v", n.table, n.partition, err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("neighbour %q/%d: Close() = %v", n.table, n.partition, err)
			}
		})
		for _, k := range []string{"", "A", "a", "ab", "b", "c", "key-2", "key-15", "\xff"} {
			if err := st.Set(k, []byte("neighbour")); err != nil {
				t.Fatalf("neighbour Set(%q) = %v", k, err)
			}
		}
		if err := st.SetOffset(1000 + int64(i)); err != nil {
			t.Fatalf("neighbour SetOffset = %v", err)
		}
		if i%2 == 0 {
			if err := st.MarkRecovered(); err != nil {
				t.Fatalf("neighbour MarkRecovered = %v", err)
			}
		}
	}
}

// harness holds one storage of a conformance case.
type harness struct {
	*testing.T
	impl   impl
	dir    string
	st     storage.Storage
	closed bool
}

func newHarness(t *testing.T, im impl) *harness {
	h := &harness{T: t, impl: im, dir: t.TempDir()}
	h.open()
	t.Cleanup(func() {
		if !h.closed {
			h.close()
		}
	})
	return h
}

func (h *harness) open() {
	h.Helper()
	st, err := h.impl.build(h.T, h.dir)
	if err != nil {
		h.Fatalf("build: got %v, want nil", err)
	}
	if err := st.Open(); err != nil {
		h.Fatalf("Open() = %v, want nil", err)
	}
	h.st, h.closed = st, false
}

func (h *harness) close() {
	h.Helper()
	h.closed = true
	if err := h.st.Close(); err != nil {
		h.Fatalf("Close() = %v, want nil", err)
	}
}

func (h *harness) reopen() {
	h.Helper()
	h.close()
	h.open()
}

func (h *harness) must(err error) {
	h.Helper()
	if err != nil {
		h.Fatalf("got error %v, want nil", err)
	}
}

func (h *harness) set(kvs ...string) {
	h.Helper()
	for i := 0; i < len(kvs); i += 2 {
		h.must(h.st.Set(kvs[i], []byte(kvs[i+1])))
	}
}

// wantGet checks Get(key); want nil means missing, and "" an empty value.
func (h *harness) wantGet(key string, want []byte) {
	h.Helper()
	got, err := h.st.Get(key)
	if err != nil || (got == nil) != (want == nil) || !bytes.Equal(got, want) {
		h.Fatalf("Get(%q) = %q (nil: %t), %v; want %q (nil: %t), nil", key, got, got == nil, err, want, want == nil)
	}
}

func (h *harness) wantOffset(def, want int64) {
	h.Helper()
	if got, err := h.st.GetOffset(def); got != want || err != nil {
		h.Fatalf("GetOffset(%d) = %d, %v; want %d, nil", def, got, err, want)
	}
}

// drain returns the rest of it as "key=value" strings and releases it.
func (h *harness) drain(it storage.Iterator) []string {
	h.Helper()
	defer it.Release()
	var kvs []string
	for it.Next() {
		v, err := it.Value()
		h.must(err)
		kvs = append(kvs, string(it.Key())+"="+string(v))
	}
	h.must(it.Err())
	return kvs
}

func (h *harness) wantIter(it storage.Iterator, err error, want ...string) {
	h.Helper()
	h.must(err)
	if got := h.drain(it); strings.Join(got, " ") != strings.Join(want, " ") {
		h.Fatalf("iterated %q, want %q", got, want)
	}
}

func TestConformance(t *testing.T) {
	for _, im := range impls() {
		for _, tc := range conformance {
			t.Run(im.name+"/"+tc.name, func(t *testing.T) {
				tc.run(newHarness(t, im))
			})
		}
	}
}

var conformance = []struct {
	name string
	run  func(h *harness)
}{
	{"get missing key", func(h *harness) {
		h.wantGet("missing", nil)
	}},
	{"set overwrites", func(h *harness) {
		h.set("k", "v1")
		h.wantGet("k", []byte("v1"))
		h.set("k", "v2")
		h.wantGet("k", []byte("v2"))
	}},
	{"has", func(h *harness) {
		for _, step := range []struct {
			do   func() error
			want bool
		}{
			{func() error { return nil }, false},
			{func() error { return h.st.Set("k", []byte("v")) }, true},
			{func() error { return h.st.Delete("k") }, false},
		} {
			h.must(step.do())
			if got, err := h.st.Has("k"); got != step.want || err != nil {
				h.Fatalf("Has(k) = %t, %v; want %t, nil", got, err, step.want)
			}
		}
	}},
	{"delete", func(h *harness) {
		h.set("k", "v")
		h.must(h.st.Delete("k"))
		h.wantGet("k", nil)
		h.must(h.st.Delete("never-set"))
	}},
	{"empty value exists", func(h *harness) {
		h.must(h.st.Set("k", []byte{}))
		h.wantGet("k", []byte{})
	}},
	{"nil value", func(h *harness) {
		err := h.st.Set("k", nil)
		if !h.impl.storesNil {
			if err == nil {
				h.Fatalf("Set(k, nil) = nil, want an error")
			}
			return
		}
		h.must(err)
		h.wantGet("k", []byte{})
	}},
	{"values are copied", func(h *harness) {
		if !h.impl.copies {
			h.Skip("goka's memory storage shares value slices with its caller")
		}
		buf := []byte("v1")
		h.must(h.st.Set("k", buf))
		buf[0] = 'X'
		got, err := h.st.Get("k")
		h.must(err)
		got[0] = 'Y'
		h.wantGet("k", []byte("v1"))
	}},
	{"iterator in key order hides offset", func(h *harness) {
		// "A" < "__offset" < "a": the offset key sits between user keys.
		h.must(h.st.SetOffset(5))
		h.set("b", "2", "a", "1", "A", "0")
		it, err := h.st.Iterator()
		h.must(err)
		if h.impl.unpositionedNil {
			if k, v := it.Key(), h.value(it); k != nil || v != nil {
				h.Fatalf("before Next: Key, Value = %q, %q; want nil, nil", k, v)
			}
		}
		h.wantIter(it, nil, "A=0", "a=1", "b=2")
		if k := it.Key(); k != nil {
			h.Fatalf("after the end: Key = %q, want nil", k)
		}
		h.must(h.st.MarkRecovered())
		h.must(h.st.SetOffset(6))
		it, err = h.st.Iterator()
		h.wantIter(it, err, "A=0", "a=1", "b=2")
	}},
	{"iterator is a snapshot", func(h *harness) {
		for _, recovered := range []bool{false, true} {
			if recovered {
				h.must(h.st.MarkRecovered())
			}
			h.set("a", "1")
			h.must(h.st.Delete("b"))
			it, err := h.st.Iterator()
			h.must(err)
			h.set("a", "9", "b", "2")
			h.wantIter(it, nil, "a=1")
			h.must(h.st.Delete("a"))
		}
	}},
	{"range with empty limit is a prefix", func(h *harness) {
		h.set("a", "1", "ab", "2", "abc", "3", "ab\xff", "4", "b", "5")
		for _, limit := range [][]byte{nil, {}} {
			it, err := h.st.IteratorWithRange([]byte("ab"), limit)
			h.wantIter(it, err, "ab=2", "abc=3", "ab\xff=4")
		}
		if !h.impl.levelDBRanges {
			return // goka's memory storage covers no key
		}
		it, err := h.st.IteratorWithRange(nil, nil)
		h.wantIter(it, err, "a=1", "ab=2", "abc=3", "ab\xff=4", "b=5")
	}},
	{"range is half-open", func(h *harness) {
		if !h.impl.levelDBRanges {
			h.Skip("goka's memory storage includes limit")
		}
		h.set("a", "1", "ab", "2", "b", "3", "ba", "4", "c", "5")
		for _, tc := range []struct {
			start, limit string
			want         []string
		}{
			{"ab", "ba", []string{"ab=2", "b=3"}},
			{"", "b", []string{"a=1", "ab=2"}},
			{"b", "b", nil},
			{"c", "a", nil},
		} {
			it, err := h.st.IteratorWithRange([]byte(tc.start), []byte(tc.limit))
			h.wantIter(it, err, tc.want...)
		}
	}},
	{"seek", func(h *harness) {
		h.set("key-1", "v1", "key-2", "v2", "key-3", "v3")
		it, err := h.st.Iterator()
		h.must(err)
		if !it.Seek([]byte("key-2")) {
			h.Fatalf("Seek(key-2) = false, want true")
		}
		if k, v := string(it.Key()), string(h.value(it)); k != "key-2" || v != "v2" {
			h.Fatalf("after Seek(key-2): Key, Value = %q, %q; want key-2, v2", k, v)
		}
		h.wantIter(it, nil, "key-3=v3")

		it, err = h.st.Iterator()
		h.must(err)
		defer it.Release()
		if !it.Seek([]byte{}) || string(it.Key()) != "key-1" {
			h.Fatalf("Seek(empty) lands on %q, want key-1", it.Key())
		}
		if it.Seek([]byte("key-4")) {
			h.Fatalf("Seek(key-4) = true, want false")
		}
		if k := it.Key(); k != nil {
			h.Fatalf("after Seek(key-4): Key = %q, want nil", k)
		}
		if !h.impl.seekGE {
			return // goka's memory storage seeks by prefix
		}
		if !it.Seek([]byte("key-15")) || string(it.Key()) != "key-2" {
			h.Fatalf("Seek(key-15) lands on %q, want key-2", it.Key())
		}
	}},
	{"offset default", func(h *harness) {
		h.wantOffset(-2, -2)
		h.must(h.st.MarkRecovered())
		h.wantOffset(-3, -3)
	}},
	{"offset set", func(h *harness) {
		h.must(h.st.SetOffset(5))
		h.wantOffset(-1, 5)
		h.must(h.st.MarkRecovered())
		h.wantOffset(-1, 5)
		h.must(h.st.SetOffset(6))
		h.wantOffset(-1, 6)
	}},
	{"offset persists", func(h *harness) {
		if !h.impl.persists {
			h.Skip("goka's memory storage does not persist")
		}
		h.must(h.st.SetOffset(100))
		h.reopen()
		h.wantOffset(-1, 100)
		h.must(h.st.MarkRecovered())
		h.must(h.st.SetOffset(101))
		h.reopen()
		h.wantOffset(-1, 101)
	}},
	{"data persists", func(h *harness) {
		if !h.impl.persists {
			h.Skip("goka's memory storage does not persist")
		}
		h.set("a", "1", "b", "2")
		h.must(h.st.SetOffset(1))
		h.reopen()
		h.wantGet("a", []byte("1"))
		h.must(h.st.MarkRecovered())
		h.set("c", "3")
		h.must(h.st.Delete("a"))
		h.reopen()
		h.wantGet("a", nil)
		h.wantGet("b", []byte("2"))
		h.wantGet("c", []byte("3"))
	}},
	{"mark recovered keeps everything", func(h *harness) {
		h.set("a", "1")
		h.must(h.st.SetOffset(1))
		h.must(h.st.MarkRecovered())
		h.wantGet("a", []byte("1"))
		h.wantOffset(-1, 1)
		h.set("b", "2")
		h.wantGet("b", []byte("2"))
	}},
	{"close twice", func(h *harness) {
		if !h.impl.closeTwice {
			h.Skip("goka's LevelDB storage panics on a second Close")
		}
		h.close()
		h.close()
	}},
	{"use after close", func(h *harness) {
		if h.impl.closedErr == nil {
			h.Skip("goka's stores do not fail every method after Close")
		}
		h.close()
		for _, c := range useAfterClose {
			if err := c.call(h.st); !errors.Is(err, h.impl.closedErr) {
				h.Errorf("%s after Close = %v, want %v", c.name, err, h.impl.closedErr)
			}
		}
	}},
}

// useAfterClose calls every method of storage.Storage but Close.
var useAfterClose = []struct {
	name string
	call func(storage.Storage) error
}{
	{"Open", func(s storage.Storage) error { return s.Open() }},
	{"Get", func(s storage.Storage) error { _, err := s.Get("k"); return err }},
	{"Has", func(s storage.Storage) error { _, err := s.Has("k"); return err }},
	{"Set", func(s storage.Storage) error { return s.Set("k", nil) }},
	{"Delete", func(s storage.Storage) error { return s.Delete("k") }},
	{"GetOffset", func(s storage.Storage) error { _, err := s.GetOffset(0); return err }},
	{"SetOffset", func(s storage.Storage) error { return s.SetOffset(1) }},
	{"MarkRecovered", func(s storage.Storage) error { return s.MarkRecovered() }},
	{"Iterator", func(s storage.Storage) error { _, err := s.Iterator(); return err }},
	{"IteratorWithRange", func(s storage.Storage) error {
		_, err := s.IteratorWithRange([]byte("a"), []byte("b"))
		return err
	}},
}

func (h *harness) value(it storage.Iterator) []byte {
	h.Helper()
	v, err := it.Value()
	h.must(err)
	return v
}

// key and value of record i in the tests that write many records.
func key(i int64) string   { return fmt.Sprintf("key-%09d", i) }
func value(i int64) []byte { return fmt.Appendf(nil, "value-%d", i) }
