package instrument

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Agent is the instruments of one agent, bound to its name. The runtime gets it
// once per agent and binds per-topic counters once per topic, so that recording a
// record costs an atomic add. Safe for concurrent use.
type Agent struct {
	name string
	r    *Set

	latency    prometheus.Observer
	restarts   prometheus.Counter
	rebalances prometheus.Counter
	assigned   prometheus.Gauge
}

// Agent returns the instruments of the agent named name, the same value for the
// same name.
func (r *Set) Agent(name string) *Agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.mu.agents[name]; ok {
		return a
	}
	a := &Agent{
		name:       name,
		r:          r,
		latency:    r.latency.WithLabelValues(name),
		restarts:   r.restarts.WithLabelValues(name),
		rebalances: r.rebalances.WithLabelValues(name),
		assigned:   r.assigned.WithLabelValues(name),
	}
	r.mu.agents[name] = a
	return a
}

// Name returns the agent's name.
func (a *Agent) Name() string { return a.name }

// In returns the counter of records the agent finished handling from topic. Bind
// it once per topic, not per record.
func (a *Agent) In(topic string) prometheus.Counter {
	return a.r.recordsIn.WithLabelValues(a.name, topic)
}

// Out returns the counter of records the agent emitted to topic. Bind it once
// per topic, not per record.
func (a *Agent) Out(topic string) prometheus.Counter {
	return a.r.recordsOut.WithLabelValues(a.name, topic)
}

// Latency returns the histogram of the agent's time per record, in seconds.
func (a *Agent) Latency() prometheus.Observer { return a.latency }

// DeadLetter counts a record sent to the agent's dead-letter topic for cause.
// Dead letters are rare, so the label is looked up per call.
func (a *Agent) DeadLetter(cause string) {
	a.r.deadLetters.WithLabelValues(a.name, cause).Inc()
}

// Restarted counts a restart of the agent's processor.
func (a *Agent) Restarted() { a.restarts.Inc() }

// Assigned counts a partition assignment (a rebalance) that gave this instance n
// input partitions.
func (a *Agent) Assigned(n int) {
	a.rebalances.Inc()
	a.assigned.Set(float64(n))
}

// Recovery sets the recovery progress of the agent's table partition: records
// restored since its recovery started, and offsets still to restore (0 once
// recovered).
func (a *Agent) Recovery(partition int32, restored, remaining int64) {
	p := strconv.Itoa(int(partition))
	a.r.restored.WithLabelValues(a.name, p).Set(float64(restored))
	a.r.remaining.WithLabelValues(a.name, p).Set(float64(remaining))
}

// TableSize sets the function that reports the size in bytes of the agent's
// table on this instance, called on every scrape; nil removes it. It replaces
// any function set before for the agent.
func (a *Agent) TableSize(fn func() (int64, error)) { a.r.tables.set(a.name, fn) }
