package tables_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/tables"
)

// TestConcurrentUse runs readers (as goka's views are) against the one writer
// of a partition, through recovery, MarkRecovered from another goroutine (as
// goka calls it) and normal writes, then closes the store under them. It pins
// race freedom (run with -race) and that use after Close fails with
// ErrClosed instead of panicking.
func TestConcurrentUse(t *testing.T) {
	st, err := tables.Open(t.TempDir(), tables.RecoveryBatchSize(16))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			for n := 0; ; n++ {
				if err := read(st, int64(n%500+1), r == 0); err != nil {
					if !errors.Is(err, tables.ErrClosed) {
						t.Errorf("reader %d: got %v, want nil or ErrClosed", r, err)
					}
					return
				}
			}
		})
	}
	write := func(from, to int64) {
		for i := from; i <= to; i++ {
			if err := st.Set(key(i), value(i)); err != nil {
				t.Fatalf("Set(%d) = %v, want nil", i, err)
			}
			if err := st.SetOffset(i); err != nil {
				t.Fatalf("SetOffset(%d) = %v, want nil", i, err)
			}
		}
	}
	write(1, 300)
	marked := make(chan error)
	go func() { marked <- st.MarkRecovered() }()
	write(301, 400) // racing MarkRecovered
	if err := <-marked; err != nil {
		t.Fatalf("MarkRecovered() = %v, want nil", err)
	}
	write(401, 500)
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	readers.Wait()
}

// read reads record i, or, if iterate, walks a few keys from it.
func read(st *tables.Store, i int64, iterate bool) error {
	if !iterate {
		if _, err := st.Get(key(i)); err != nil {
			return err
		}
		if _, err := st.Has(key(i)); err != nil {
			return err
		}
		_, err := st.GetOffset(-1)
		return err
	}
	it, err := st.IteratorWithRange([]byte(key(i)), nil)
	if err != nil {
		return err
	}
	defer it.Release()
	for n := 0; n < 10 && it.Next(); n++ {
		if _, err := it.Value(); err != nil {
			return err
		}
	}
	return it.Err()
}
