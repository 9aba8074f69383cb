package broker_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// BenchmarkCleanerPause measures what the cleaner's drains cost
// transactional producers: four producers (two adding partitions with
// AddPartitionsToTxn, two by produce v12) run b.N transactions each on a
// compacted topic, back to back, each held open for loadHold; the cleaner
// runs every 100 ms, or never (the anchor, in the same run). It reports the
// p50, p99 and longest transaction in ms; the difference is the pause.
func BenchmarkCleanerPause(b *testing.B) {
	for _, bc := range []struct {
		name     string
		interval time.Duration
	}{{"cleaner=off", time.Hour}, {"cleaner=100ms", 100 * time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			br := kafkatest.Start(b, broker.CleanerInterval(bc.interval))
			addrs := br.Addrs()
			kafkatest.CreateTopic(b, addrs, "table", 2, compacted())
			var (
				mu   sync.Mutex
				took []time.Duration
				wg   sync.WaitGroup
			)
			b.ResetTimer()
			for i, opts := range [][]kgo.Opt{{kgo.MaxVersions(kversion.V2_8_0())}, {kgo.MaxVersions(kversion.V2_8_0())}, nil, nil} {
				name := string(rune('a' + i))
				cl := kafkatest.Client(b, addrs, append([]kgo.Opt{kgo.TransactionalID(name), kgo.DefaultProduceTopic("table")}, opts...)...)
				wg.Go(func() {
					for n := 1; n <= b.N; n++ {
						start := time.Now()
						if err := loadTxn(b.Context(), cl, name, n); err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						took = append(took, time.Since(start))
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(took)
			ms := func(q float64) float64 {
				return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			b.ReportMetric(ms(1), "max-ms")
		})
	}
}
