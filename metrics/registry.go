package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/instrument"
)

// Registry is a Prometheus registry holding sluice's instruments: records in
// and out per agent and topic, handler latency, dead letters by cause,
// restarts, rebalances, table size, recovery progress, timers, the lookup
// service's figures and consumer lag. Give it to topology.Run
// (topology.Metrics) and to lookup.New (lookup.Registry) and serve it with
// [Registry.Handler]. Its zero value is not usable; create one with [New].
// Safe for concurrent use.
type Registry struct {
	s *instrument.Set
}

func init() {
	instrument.Of = func(r any) *instrument.Set {
		if reg, _ := r.(*Registry); reg != nil {
			return reg.s
		}
		return nil
	}
}

// New returns a registry with sluice's instruments and the Go runtime and
// process collectors registered.
func New() *Registry { return &Registry{s: instrument.New()} }

// Handler returns an http.Handler serving r in the Prometheus text (or, when
// asked, OpenMetrics) format. A collector that fails (the lag source cannot
// reach the broker) costs its own metrics, not the scrape.
func (r *Registry) Handler() http.Handler { return r.s.Handler() }

// Gatherer returns r as a prometheus.Gatherer, for tests and for merging
// with other registries.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.s.Gatherer() }

// Register adds a collector of the caller's own to r, so that it is served
// with sluice's instruments. It fails as prometheus.Registry.Register does,
// for example when a metric of the same name is already registered.
func (r *Registry) Register(c prometheus.Collector) error { return r.s.Register(c) }

// Lag is how far one agent (consumer group) is behind on one input partition.
type Lag struct {
	Agent     string
	Topic     string
	Partition int32
	// Records is the partition's end offset minus the agent's committed offset.
	Records int64
	// Age is the age of the oldest unprocessed record, 0 when there is none.
	Age time.Duration
}

// LagFunc computes the current lag of the agents it knows. It is called on
// every scrape and should return within the context's deadline.
type LagFunc func(ctx context.Context) ([]Lag, error)

// SetLagSource sets the function that computes consumer lag when r is
// scraped; nil removes it. It replaces any function set before for r; each
// registry has its own, so two graphs observed in one process, each with its
// registry, keep theirs.
func (r *Registry) SetLagSource(fn LagFunc) {
	if fn == nil {
		r.s.SetLagSource(nil)
		return
	}
	r.s.SetLagSource(func(ctx context.Context) ([]instrument.Lag, error) {
		lags, err := fn(ctx)
		out := make([]instrument.Lag, len(lags))
		for i, l := range lags {
			out[i] = instrument.Lag(l)
		}
		return out, err
	})
}
