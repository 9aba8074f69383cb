package instrument

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric name.
const namespace = "sluice"

// latencyBuckets are the handler latency histogram's upper bounds in seconds,
// from 10 µs (a counting handler) to about 2.6 s (a slow remote call), each four
// times the last.
var latencyBuckets = prometheus.ExponentialBuckets(10e-6, 4, 10)

// Set is a Prometheus registry holding sluice's instruments: what
// metrics.Registry wraps, with the recording methods the runtime (topology,
// lookup) uses and users do not. Its zero value is not usable; create one
// with [New]. Safe for concurrent use.
type Set struct {
	reg *prometheus.Registry

	recordsIn   *prometheus.CounterVec
	recordsOut  *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
	restarts    *prometheus.CounterVec
	rebalances  *prometheus.CounterVec
	assigned    *prometheus.GaugeVec
	restored    *prometheus.GaugeVec
	remaining   *prometheus.GaugeVec
	timers      timerInstruments

	tables *tableCollector
	lag    *lagCollector

	mu struct {
		sync.Mutex
		agents  map[string]*Agent
		lookups *lookupMetrics // registered by the first Lookup
	}
}

// New returns a registry with sluice's instruments and the Go runtime and process
// collectors registered.
func New() *Set {
	r := &Set{
		reg: prometheus.NewRegistry(),
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "records_in_total",
			Help: "Records an agent finished handling (processed or dead-lettered), by input topic.",
		}, []string{"agent", "topic"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "records_out_total",
			Help: "Records an agent emitted, by output topic (dead letters excluded).",
		}, []string{"agent", "topic"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "handler_seconds",
			Help:    "Time to handle one record: decode, handler calls and retries, applying its effects.",
			Buckets: latencyBuckets,
		}, []string{"agent"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dead_letters_total",
			Help: "Records sent to an agent's dead-letter topic, by cause (decode, handler, panic, route, size, refused).",
		}, []string{"agent", "cause"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "restarts_total",
			Help: "Times an agent's processor failed and was restarted.",
		}, []string{"agent"}),
		rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rebalances_total",
			Help: "Partition assignments an agent received (one per rebalance).",
		}, []string{"agent"}),
		assigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "assigned_partitions",
			Help: "Input partitions assigned to this instance of an agent.",
		}, []string{"agent"}),
		restored: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "recovery_restored_records",
			Help: "Changelog records restored into an agent's table partition since its recovery started.",
		}, []string{"agent", "partition"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "recovery_remaining_records",
			Help: "Changelog offsets an agent's table partition has yet to restore (0 once recovered); an upper bound, since compaction leaves gaps.",
		}, []string{"agent", "partition"}),
		tables: newTableCollector(),
		lag:    newLagCollector(),
	}
	r.mu.agents = map[string]*Agent{}
	r.timers = newTimerInstruments()
	r.reg.MustRegister(r.timers.collectors()...)
	r.reg.MustRegister(
		r.recordsIn, r.recordsOut, r.latency, r.deadLetters, r.restarts, r.rebalances,
		r.assigned, r.restored, r.remaining, r.tables, r.lag,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Handler returns an http.Handler serving r. A collector that fails (the lag
// source cannot reach the broker) costs its own metrics, not the scrape.
func (r *Set) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// Gatherer returns r as a prometheus.Gatherer, for tests and for merging with
// other registries.
func (r *Set) Gatherer() prometheus.Gatherer { return r.reg }

// Register adds a collector of the caller's own to r, so that it is served with
// sluice's instruments. It fails as prometheus.Registry.Register does, for
// example when a metric of the same name is already registered.
func (r *Set) Register(c prometheus.Collector) error { return r.reg.Register(c) }
