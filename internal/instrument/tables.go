package instrument

import (
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// tableCollector reports each agent's table size by calling the function the
// runtime registered for it ([Agent.TableSize]) when scraped.
type tableCollector struct {
	desc   *prometheus.Desc
	errors prometheus.Counter

	mu struct {
		sync.Mutex
		size map[string]func() (int64, error)
	}
}

func newTableCollector() *tableCollector {
	c := &tableCollector{
		desc: prometheus.NewDesc(namespace+"_table_bytes",
			"Bytes an agent's table takes on this instance's disk (its Pebble stores).",
			[]string{"agent"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "table_size_errors_total",
			Help: "Scrapes at which a table's size could not be read.",
		}),
	}
	c.mu.size = map[string]func() (int64, error){}
	return c
}

func (c *tableCollector) set(agent string, fn func() (int64, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fn == nil {
		delete(c.mu.size, agent)
		return
	}
	c.mu.size[agent] = fn
}

// Describe implements prometheus.Collector.
func (c *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *tableCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	fns := maps.Clone(c.mu.size)
	c.mu.Unlock()
	for _, agent := range slices.Sorted(maps.Keys(fns)) {
		n, err := fns[agent]()
		if err != nil {
			c.errors.Inc()
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), agent)
	}
	c.errors.Collect(ch)
}
