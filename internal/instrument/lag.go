package instrument

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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

// LagFunc computes the current lag of the agents it knows. It is called on every
// scrape and should return within the context's deadline.
type LagFunc func(ctx context.Context) ([]Lag, error)

// lagTimeout bounds one call of the lag function during a scrape.
const lagTimeout = 5 * time.Second

// SetLagSource sets the function that computes consumer lag when r is scraped;
// nil removes it. It replaces any function set before.
func (r *Set) SetLagSource(fn LagFunc) { r.lag.set(fn) }

// lagCollector reports the lag the registered [LagFunc] computes.
type lagCollector struct {
	records, age *prometheus.Desc
	errors       prometheus.Counter

	mu struct {
		sync.Mutex
		fn LagFunc
	}
}

func newLagCollector() *lagCollector {
	labels := []string{"agent", "topic", "partition"}
	return &lagCollector{
		records: prometheus.NewDesc(namespace+"_consumer_lag_records",
			"Records of an input partition the agent has not committed yet.", labels, nil),
		age: prometheus.NewDesc(namespace+"_consumer_lag_seconds",
			"Age of the oldest record of an input partition the agent has not committed yet (0 if none).", labels, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_lag_errors_total",
			Help: "Scrapes at which consumer lag could not be computed.",
		}),
	}
}

func (c *lagCollector) set(fn LagFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.fn = fn
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.age
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	c.mu.Lock()
	fn := c.mu.fn
	c.mu.Unlock()
	if fn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	lags, err := fn(ctx)
	if err != nil {
		c.errors.Inc()
		return
	}
	seen := make(map[lagKey]bool, len(lags))
	for _, l := range lags {
		k := lagKey{l.Agent, l.Topic, l.Partition}
		if seen[k] {
			continue // a duplicate would fail the whole scrape
		}
		seen[k] = true
		p := strconv.Itoa(int(l.Partition))
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(l.Records), l.Agent, l.Topic, p)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, l.Age.Seconds(), l.Agent, l.Topic, p)
	}
}

type lagKey struct {
	agent, topic string
	partition    int32
}
