package instrument

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latenessBuckets are the timer lateness histogram's upper bounds in seconds,
// from 1 ms to about 16 s, each doubling the last.
var latenessBuckets = prometheus.ExponentialBuckets(1e-3, 2, 15)

// timerInstruments are the instruments of agents' timers (topology's
// Agent.OnTimer).
type timerInstruments struct {
	fired    *prometheus.CounterVec
	stale    *prometheus.CounterVec
	lateness *prometheus.HistogramVec
	pending  *prometheus.GaugeVec
}

func newTimerInstruments() timerInstruments {
	return timerInstruments{
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "timers_fired_total",
			Help: "Timers whose handler an agent ran (processed or dead-lettered).",
		}, []string{"agent"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "timer_fires_stale_total",
			Help: "Fire records an agent dropped: the timer was cancelled, replaced or fired already (duplicates after a restart).",
		}, []string{"agent"}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "timer_lateness_seconds",
			Help:    "How long after its time a wall-clock timer's handler started.",
			Buckets: latenessBuckets,
		}, []string{"agent"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "timers_pending",
			Help: "Timers pending in the partitions this instance of an agent owns.",
		}, []string{"agent"}),
	}
}

func (t timerInstruments) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.fired, t.stale, t.lateness, t.pending}
}

// TimerFired counts a timer of the agent whose handler ran, late by lateness;
// a negative lateness (a stream-time timer's) is not observed.
func (a *Agent) TimerFired(lateness time.Duration) {
	a.r.timers.fired.WithLabelValues(a.name).Inc()
	if lateness >= 0 {
		a.r.timers.lateness.WithLabelValues(a.name).Observe(lateness.Seconds())
	}
}

// TimerStale counts a fire record the agent dropped because its timer was gone.
func (a *Agent) TimerStale() { a.r.timers.stale.WithLabelValues(a.name).Inc() }

// TimersPending sets the number of the agent's timers pending on this
// instance.
func (a *Agent) TimersPending(n int) {
	a.r.timers.pending.WithLabelValues(a.name).Set(float64(n))
}
