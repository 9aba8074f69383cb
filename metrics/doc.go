// Package metrics holds the Prometheus instruments of a running sluice binary and
// serves them for scraping.
//
// # Registry
//
// A [Registry] is a private Prometheus registry (never the process-wide default,
// so tests can each use their own) with sluice's instruments: records in and out
// per agent and topic, handler latency, dead letters by cause, restarts,
// rebalances, table size, recovery progress and consumer lag. [Default] is the
// registry topology.Run records into unless told otherwise; [Handler] serves it.
//
// # Recording
//
// The runtime binds an agent's instruments once with [Registry.Agent] and keeps
// the returned [Agent]: its counters are pre-bound to their labels, so counting a
// record is one atomic add, never a label lookup.
//
// # Lag
//
// Consumer lag is computed elsewhere (from the broker's offsets) and only when
// scraped: [Registry.SetLagSource] registers the function that computes it.
//
// # Usage
//
//	http.Handle("/metrics", metrics.Handler())
//	metrics.SetLagSource(func(ctx context.Context) ([]metrics.Lag, error) { ... })
package metrics
