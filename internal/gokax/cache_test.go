package gokax

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// recorder is a storage that logs every write, to pin the order in which the
// cache writes through.
type recorder struct {
	storage.Storage
	log  []string
	fail bool // Set fails
}

func (r *recorder) Set(k string, v []byte) error {
	if r.fail {
		return errors.New("disk full")
	}
	r.log = append(r.log, "set "+k+"="+string(v))
	return r.Storage.Set(k, v)
}

func (r *recorder) Delete(k string) error {
	r.log = append(r.log, "delete "+k)
	return r.Storage.Delete(k)
}

func (r *recorder) SetOffset(o int64) error {
	r.log = append(r.log, fmt.Sprint("offset ", o))
	return r.Storage.SetOffset(o)
}

func newRecorded(t *testing.T) (*cachedStorage, *recorder) {
	t.Helper()
	r := &recorder{Storage: storage.NewMemory()}
	return newCachedStorage(r), r
}

func get(t *testing.T, st storage.Storage, k string) string {
	t.Helper()
	v, err := st.Get(k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if v == nil {
		return "<nil>"
	}
	return string(v)
}

// TestCacheRecoveryWritesThrough pins that before MarkRecovered every write
// reaches the storage at once: the storage batches recovery itself.
func TestCacheRecoveryWritesThrough(t *testing.T) {
	c, r := newRecorded(t)
	c.Set("a", []byte("1"))
	c.SetOffset(0)
	if want := []string{"set a=1", "offset 0"}; !slices.Equal(r.log, want) {
		t.Fatalf("writes during recovery = %q, want %q", r.log, want)
	}
}

// TestCacheWritesBehind pins the write-behind contract: reads see every write at
// once, the storage gets each dirty key once per flush and only then the
// offset, so a stored offset never covers a write the storage lacks.
func TestCacheWritesBehind(t *testing.T) {
	c, r := newRecorded(t)
	if err := c.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	for i := range flushEvery - 1 {
		c.Set("a", fmt.Append(nil, i))
		c.SetOffset(int64(i))
	}
	c.Set("b", []byte("x"))
	c.Delete("b")
	if len(r.log) != 0 {
		t.Fatalf("storage writes before a flush: %q", r.log)
	}
	if got, want := get(t, c, "a"), fmt.Sprint(flushEvery-2); got != want {
		t.Fatalf("Get(a) before flush = %q, want %q", got, want)
	}
	if got := get(t, c, "b"); got != "<nil>" {
		t.Fatalf("Get(b) after Delete = %q, want <nil>", got)
	}
	if o, _ := c.GetOffset(-1); o != flushEvery-2 {
		t.Fatalf("GetOffset before flush = %d, want %d", o, flushEvery-2)
	}
	c.SetOffset(flushEvery - 1) // the flushEvery-th: flush
	slices.Sort(r.log[:2])
	want := []string{"delete b", fmt.Sprintf("set a=%d", flushEvery-2), fmt.Sprint("offset ", flushEvery-1)}
	if !slices.Equal(r.log, want) {
		t.Fatalf("writes of a flush = %q, want %q (keys in any order, offset last)", r.log, want)
	}
	if got := get(t, r, "a"); got != fmt.Sprint(flushEvery-2) {
		t.Fatalf("storage Get(a) after flush = %q", got)
	}
}

// TestCacheFailedFlushKeepsOffset pins that a failed write-through stores no
// offset, and that the dirty keys are written by the next flush.
func TestCacheFailedFlushKeepsOffset(t *testing.T) {
	c, r := newRecorded(t)
	c.MarkRecovered()
	c.Set("a", []byte("1"))
	r.fail = true
	for i := range flushEvery {
		if err := c.SetOffset(int64(i)); err != nil && i != flushEvery-1 {
			t.Fatalf("SetOffset(%d) = %v before the flush", i, err)
		}
	}
	if slices.ContainsFunc(r.log, func(s string) bool { return s[:6] == "offset" }) {
		t.Fatalf("offset stored although its data was not: %q", r.log)
	}
	r.fail = false
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if want := []string{"set a=1", fmt.Sprint("offset ", flushEvery-1)}; !slices.Equal(r.log, want) {
		t.Fatalf("writes after the failure = %q, want %q", r.log, want)
	}
}

// TestCacheIteratorAndCloseWriteThrough pins that iterators and Close see, or
// keep, every write.
func TestCacheIteratorAndCloseWriteThrough(t *testing.T) {
	c, r := newRecorded(t)
	c.MarkRecovered()
	c.Set("a", []byte("1"))
	c.SetOffset(7)
	it, err := c.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Key()))
	}
	it.Release()
	if !slices.Contains(keys, "a") {
		t.Fatalf("iterator keys %q, want a among them", keys)
	}
	c.Set("b", []byte("2"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"set a=1", "offset 7", "set b=2"}; !slices.Equal(r.log, want) {
		t.Fatalf("writes = %q, want %q", r.log, want)
	}
}

// TestCacheGetCopies pins that a caller changing a returned or a passed value
// does not change the cached one.
func TestCacheGetCopies(t *testing.T) {
	c, _ := newRecorded(t)
	c.MarkRecovered()
	v := []byte("1")
	c.Set("a", v)
	v[0] = '9'
	got, _ := c.Get("a")
	got[0] = '8'
	if s := get(t, c, "a"); s != "1" {
		t.Fatalf("Get(a) = %q after callers changed their slices, want 1", s)
	}
}

// applyRecorder is a recorder whose storage applies writes at once, as
// tables.Store does; it logs each Apply.
type applyRecorder struct {
	recorder
	failApply bool
}

func (r *applyRecorder) Apply(writes []tables.Write, offset int64, setOffset bool) error {
	if r.failApply {
		return errors.New("disk full")
	}
	var keys []string
	for _, w := range writes {
		if w.Delete {
			keys = append(keys, "-"+w.Key)
			if err := r.Storage.Delete(w.Key); err != nil {
				return err
			}
			continue
		}
		keys = append(keys, w.Key+"="+string(w.Value))
		if err := r.Storage.Set(w.Key, w.Value); err != nil {
			return err
		}
	}
	slices.Sort(keys)
	entry := fmt.Sprint("apply ", keys)
	if setOffset {
		entry += fmt.Sprint(" offset ", offset)
		if err := r.Storage.SetOffset(offset); err != nil {
			return err
		}
	}
	r.log = append(r.log, entry)
	return nil
}

// TestCacheAppliesAtOnce pins that a storage that can apply writes at once
// gets each flush as one Apply with the dirty keys and the offset, and that a
// failed Apply keeps the keys dirty for the next flush.
func TestCacheAppliesAtOnce(t *testing.T) {
	r := &applyRecorder{recorder: recorder{Storage: storage.NewMemory()}}
	c := newCachedStorage(r)
	if err := c.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	c.Set("a", []byte("1"))
	c.Set("b", []byte("2"))
	c.Delete("b")
	r.failApply = true
	for i := range flushEvery {
		if err := c.SetOffset(int64(i)); (err != nil) != (i == flushEvery-1) {
			t.Fatalf("SetOffset(%d) = %v; want an error at the flush only", i, err)
		}
	}
	if len(r.log) != 0 {
		t.Fatalf("storage writes after a failed Apply: %q", r.log)
	}
	r.failApply = false
	c.Set("c", []byte("3"))
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	want := []string{fmt.Sprint("apply [-b a=1 c=3] offset ", flushEvery-1)}
	if !slices.Equal(r.log, want) {
		t.Fatalf("writes = %q, want %q", r.log, want)
	}
	if got := get(t, r, "a"); got != "1" {
		t.Fatalf("storage Get(a) = %q, want 1", got)
	}
}

// TestCacheWritesAcknowledgedOnly pins that a processor's own table keeps a
// write out of storage until its changelog record is acknowledged: Close
// writes acknowledged writes and drops the rest, a refused record's write is
// dropped, and the acknowledgements of a key pair with its writes in order.
func TestCacheWritesAcknowledgedOnly(t *testing.T) {
	a := newChangelogAcks("g-table")
	r := &recorder{Storage: storage.NewMemory()}
	st, err := a.storage(func(string, int32) (storage.Storage, error) { return r, nil })("g-table", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ k, v string }{{"a", "1"}, {"a", "2"}, {"b", "1"}, {"c", "1"}, {"a", "3"}} {
		if err := st.Set(w.k, []byte(w.v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := get(t, st, "a"); got != "3" {
		t.Fatalf("Get(a) = %s, want 3: reads see unacknowledged writes", got)
	}
	a.done("g-table", "a", 3, nil)                           // a=1
	a.done("g-table", "a", 3, errors.New("refused"))         // a=2 refused
	a.done("g-table", "b", 3, nil)                           // b=1
	a.done("other", "c", 3, nil)                             // another topic: not c's
	a.done("g-table", "c", 0, errors.New("not partitioned")) // failed before franz-go chose its partition
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(r.log)
	if want := []string{"set a=1", "set b=1"}; !slices.Equal(r.log, want) {
		t.Fatalf("written through = %q, want %q: a=3 and c=1 were never acknowledged", r.log, want)
	}
	a.done("g-table", "a", 3, nil) // after Close: nothing to do, no panic
}

// BenchmarkCacheCountingRecord is a counting agent's table calls for one
// record, as goka makes them on its own table: Get, Set, the changelog
// acknowledgement (acked), SetOffset; 1,000 keys, written through every
// flushEvery records. allocs/op is what the cache adds per record: the
// copies of the value read and of the value written (a hot key's queue of
// unacknowledged writes reuses its array).
func BenchmarkCacheCountingRecord(b *testing.B) {
	c := newCachedStorage(storage.NewMemory())
	c.acks = true
	if err := c.MarkRecovered(); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%06d", i)
	}
	val := []byte("123456")
	b.ReportAllocs()
	for i := range b.N {
		k := keys[i%len(keys)]
		if _, err := c.Get(k); err != nil {
			b.Fatal(err)
		}
		if err := c.Set(k, val); err != nil {
			b.Fatal(err)
		}
		c.acked(k, nil)
		if err := c.SetOffset(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}
