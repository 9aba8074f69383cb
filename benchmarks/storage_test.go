package benchmarks

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// updatesPerLoop is one round of BenchmarkStorageUpdate: as many messages as
// keys, so that even -benchtime 3x measures a sizeable run.
const updatesPerLoop = 100_000

// BenchmarkStorageUpdate measures goka's per-message table access (Get, Set,
// SetOffset) on 100,000 keys.
func BenchmarkStorageUpdate(b *testing.B) {
	for _, store := range Stores {
		b.Run("store="+store, func(b *testing.B) {
			w, err := NewUpdateWorkload(StorageConfig{Store: store, Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := w.Close(); err != nil {
					b.Error(err)
				}
			})
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if err := w.Run(updatesPerLoop); err != nil {
					b.Fatal(err)
				}
				n += updatesPerLoop
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkStorageRecovery measures recovery of a table partition from its
// changelog: 1,000,000 records over 100,000 keys replayed into a new store,
// through MarkRecovered. Opening and closing the store are not timed. goka's
// memory storage is left out: it sorts all keys for each new key.
func BenchmarkStorageRecovery(b *testing.B) {
	const records, keys = 1_000_000, 100_000
	for _, store := range []string{"pebble", "leveldb"} {
		b.Run("store="+store, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), fmt.Sprint(n))
				st, err := OpenStore(store, dir)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := Replay(st, records, keys); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n += records
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
