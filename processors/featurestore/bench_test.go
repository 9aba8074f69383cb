package featurestore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

// BenchmarkViewLookup measures lookups of feature vectors (4 features per
// entity, 10,000 entities, 4 partitions) materialised by the store on the
// embedded broker, in random entity order: path=view reads the typed View
// directly, path=http makes GET /features/{entity} over loopback HTTP with
// keep-alive, JSON in and out, in one process and one goroutine. It reports
// each lookup's latency percentiles: the cost of a lookup without load.
// BenchmarkFeatureLookup (package benchmarks) measures the lookup service
// under load from another process.
//
//	go test -run '^$' -bench ViewLookup -benchtime 20000x ./processors/featurestore
func BenchmarkViewLookup(b *testing.B) {
	const entities, features = 10_000, 4
	br := kafkatest.Start(b)
	addrs := br.Addrs()
	g, store := storeGraph(b, featurestore.Config{Name: "features", Updates: updates}, updates)
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(b.TempDir())}
	if _, err := topology.Provision(b.Context(), g, opts...); err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, 0, entities*features)
	for i := range entities {
		for f := range features {
			v, err := updates.Codec.Encode(featurestore.Update{Name: fmt.Sprintf("feature_%d", f), Value: float64(i), AsOf: t0})
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "entity-%d", i), Value: v})
		}
	}
	kafkatest.Produce(b, addrs, updates.Name, recs...)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- topology.Run(ctx, g, opts...) }()
	view, err := topology.NewView(store.Table(), topology.Brokers(addrs...), topology.DataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	go func() { done <- view.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				b.Error(err)
			}
		}
	}()
	deadline, dcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer dcancel()
	if err := view.WaitRecovered(deadline); err != nil {
		b.Fatal(err)
	}
	for i := range entities { // every vector complete: the agent is done
		for {
			v, _, err := view.Get(fmt.Sprintf("entity-%d", i))
			if err == nil && len(v.Features) == features {
				break
			}
			if deadline.Err() != nil {
				b.Fatalf("entity-%d has %d features, want %d: %v", i, len(v.Features), features, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	names := make([]string, entities)
	for i, p := range rand.New(rand.NewPCG(1, 1)).Perm(entities) {
		names[i] = fmt.Sprintf("entity-%d", p)
	}

	b.Run("path=view", func(b *testing.B) {
		measure(b, names, func(entity string) error {
			v, ok, err := view.Get(entity)
			if err == nil && (!ok || len(v.Features) != features) {
				err = fmt.Errorf("%s: %d features, found %t", entity, len(v.Features), ok)
			}
			return err
		})
	})
	b.Run("path=http", func(b *testing.B) {
		srv := httptest.NewServer(featurestore.Handler(view))
		defer srv.Close()
		c := srv.Client()
		measure(b, names, func(entity string) error {
			status, r, err := get(c, srv.URL+"/features/"+entity)
			if err == nil && (status != http.StatusOK || len(r.Features) != features) {
				err = fmt.Errorf("%s: status %d, %d features", entity, status, len(r.Features))
			}
			return err
		})
	})
}

// measure times lookup on names in turn and reports lookups/s and the p50,
// p99 and max latency in µs.
func measure(b *testing.B, names []string, lookup func(string) error) {
	b.ReportAllocs()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		if err := lookup(names[i%len(names)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(1), "max-µs")
	b.ReportMetric(0, "ns/op") // latency is in the percentiles; ns/op would double count
}
