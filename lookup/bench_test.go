package lookup_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/lookup"
	"github.com/sluicehq/sluice/topology"
)

// discard is a ResponseWriter that counts what is written to it; each
// request gets a new one, with a new header map, as net/http's server gives.
type discard struct {
	h    http.Header
	code int
	n    int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkServeLookup measures the lookup service's handler alone, no
// network and no net/http server: the CPU and the allocations of one
// GET /features/{entity} of 1,000 entities' vectors, read from the view.
// Every allocation counts: at 5,000 lookups/s they set how often the
// service's collector runs. BenchmarkFeatureLookup (package benchmarks)
// measures the service under load from another process.
//
//	go test -run '^$' -bench ServeLookup -benchmem ./lookup/
func BenchmarkServeLookup(b *testing.B) {
	const n = 1000
	br := kafkatest.Start(b)
	g := testGraph(b)
	opts := []topology.Option{topology.Brokers(br.Addrs()...), topology.DataDir(b.TempDir())}
	if _, err := topology.Provision(b.Context(), g, opts...); err != nil {
		b.Fatal(err)
	}
	running(b, g, opts...)
	for r := range 4 {
		sendRound(b, br.Addrs(), n, r)
	}
	s := serve(b, g, []string{"features-table"}, lookup.Views(topology.Brokers(br.Addrs()...), topology.DataDir(b.TempDir())))
	s.waitRound(b, n, 3)
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i], _ = http.NewRequest(http.MethodGet, fmt.Sprintf("/features/e%d", i), nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := &discard{h: http.Header{}}
		s.ServeHTTP(w, reqs[i%n])
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
		i++
	}
}
