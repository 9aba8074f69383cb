package benchmarks

import (
	"fmt"
	"testing"
	"os"
	"strconv"

	"github.com/sluicehq/sluice/tables"
)

func BenchmarkZZTune(b *testing.B) {
	for _, mt := range []uint64{64 << 20} {
		b.Run(fmt.Sprintf("mt=%d", mt>>20), func(b *testing.B) {
			cache, _ := strconv.Atoi(os.Getenv("CACHE"))
			if cache == 0 { cache = 64 }
			st, err := tables.Builder(b.TempDir(), tables.MemTableSize(mt), tables.CacheSize(int64(cache)<<20))("t", 0)
			if err != nil { b.Fatal(err) }
			defer st.Close()
			n := 100_000
			if err := Replay(st, n, n); err != nil { b.Fatal(err) }
			w := &UpdateWorkload{st: st, keys: keyNames(n), rng: newRng(), offset: int64(n)}
			var m int
			for b.Loop() {
				if err := w.Run(updatesPerLoop); err != nil { b.Fatal(err) }
				m += updatesPerLoop
			}
			b.ReportMetric(float64(m)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
