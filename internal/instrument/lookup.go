package instrument

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a key looked up, the values of the outcome label of
// sluice_lookup_keys_total.
const (
	Found   = "found"   // the table has a value for the key
	Missing = "missing" // it has none
	Failed  = "error"   // the value could not be read or decoded
)

// Lookup is the instruments of the lookup service of one table, bound to its
// name. Safe for concurrent use.
type Lookup struct {
	table    string
	m        *lookupMetrics
	outcomes map[string]prometheus.Counter
	single   prometheus.Observer
	batch    prometheus.Observer
	codes    [2]map[int]prometheus.Counter // by kind (single, batch): the usual statuses, bound once
}

// usualCodes are the statuses of lookup answers, whose counters are bound
// once per table.
var usualCodes = []int{200, 400, 404, 500, 503}

// ViewState is how current a view of a table is, as the lookup service of the
// table reports it: see [Lookup.SetView].
type ViewState struct {
	// Recovered: the view has caught up with the table once, and answers.
	Recovered bool
	// Age is how long ago the view last heard from the broker; negative
	// for never.
	Age time.Duration
	// Lag is how many changelog offsets written before then the view
	// lacks; negative for unknown.
	Lag int64
}

// lookupMetrics holds the vectors of every table's lookup instruments.
type lookupMetrics struct {
	keys     *prometheus.CounterVec
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	views    *viewCollector
}

// Lookup returns the instruments of the lookup service of table, registering
// the lookup metrics with r the first time.
func (r *Set) Lookup(table string) *Lookup {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.lookups == nil {
		m := &lookupMetrics{
			keys: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: namespace, Name: "lookup_keys_total",
				Help: "Keys the lookup service read from its view of a table, by outcome (found, missing, error); each key of a batch counts.",
			}, []string{"table", "outcome"}),
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: namespace, Name: "lookup_requests_total",
				Help: "Requests the lookup service answered for a table, by kind (single, batch) and HTTP status (503: the view has not recovered).",
			}, []string{"table", "kind", "code"}),
			seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Namespace: namespace, Name: "lookup_request_seconds",
				Help:    "Time the lookup service took to answer a request for a table, from routing to the body written, by kind (single, batch).",
				Buckets: latencyBuckets,
			}, []string{"table", "kind"}),
			views: newViewCollector(),
		}
		r.reg.MustRegister(m.keys, m.requests, m.seconds, m.views)
		r.mu.lookups = m
	}
	m := r.mu.lookups
	l := &Lookup{
		table:    table,
		m:        m,
		outcomes: map[string]prometheus.Counter{},
		single:   m.seconds.WithLabelValues(table, "single"),
		batch:    m.seconds.WithLabelValues(table, "batch"),
	}
	for _, o := range []string{Found, Missing, Failed} {
		l.outcomes[o] = m.keys.WithLabelValues(table, o)
	}
	for i, kind := range []string{"single", "batch"} {
		l.codes[i] = map[int]prometheus.Counter{}
		for _, code := range usualCodes {
			l.codes[i][code] = m.requests.WithLabelValues(table, kind, strconv.Itoa(code))
		}
	}
	return l
}

// Key counts a key read with outcome, one of [Found], [Missing] and [Failed].
func (l *Lookup) Key(outcome string) {
	if c, ok := l.outcomes[outcome]; ok {
		c.Inc()
	}
}

// Request records a request answered with HTTP status code after d; batch
// tells a batch from a single lookup.
func (l *Lookup) Request(batch bool, code int, d time.Duration) {
	i, kind, obs := 0, "single", l.single
	if batch {
		i, kind, obs = 1, "batch", l.batch
	}
	obs.Observe(d.Seconds())
	if c, ok := l.codes[i][code]; ok {
		c.Inc()
		return
	}
	l.m.requests.WithLabelValues(l.table, kind, strconv.Itoa(code)).Inc()
}

// SetView sets the function reporting how current the table's view is,
// called at every scrape; nil removes it.
func (l *Lookup) SetView(fn func() ViewState) { l.m.views.set(l.table, fn) }

// viewCollector reports each served table's view state when scraped.
type viewCollector struct {
	recovered, age, lag *prometheus.Desc

	mu struct {
		sync.Mutex
		fns map[string]func() ViewState
	}
}

func newViewCollector() *viewCollector {
	c := &viewCollector{
		recovered: prometheus.NewDesc(namespace+"_view_recovered",
			"1 once the lookup service's view of a table has caught up with it (and answers, also while the broker is down), 0 before.", []string{"table"}, nil),
		age: prometheus.NewDesc(namespace+"_view_age_seconds",
			"Seconds since the view of a table last heard from the broker: its answers may lack updates written since.", []string{"table"}, nil),
		lag: prometheus.NewDesc(namespace+"_view_lag_offsets",
			"Changelog offsets written before the view of a table last heard from the broker that it lacks.", []string{"table"}, nil),
	}
	c.mu.fns = map[string]func() ViewState{}
	return c
}

func (c *viewCollector) set(table string, fn func() ViewState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fn == nil {
		delete(c.mu.fns, table)
		return
	}
	c.mu.fns[table] = fn
}

// Describe implements prometheus.Collector.
func (c *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.recovered
	ch <- c.age
	ch <- c.lag
}

// Collect implements prometheus.Collector.
func (c *viewCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	fns := maps.Clone(c.mu.fns)
	c.mu.Unlock()
	for _, table := range slices.Sorted(maps.Keys(fns)) {
		s := fns[table]()
		rec := 0.0
		if s.Recovered {
			rec = 1
		}
		ch <- prometheus.MustNewConstMetric(c.recovered, prometheus.GaugeValue, rec, table)
		if s.Age >= 0 {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, s.Age.Seconds(), table)
		}
		if s.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(s.Lag), table)
		}
	}
}
