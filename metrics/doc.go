// Package metrics holds the Prometheus instruments of a running sluice
// program and serves them for scraping.
//
// # Registry
//
// A [Registry] is a private Prometheus registry (never the process-wide
// default, so that two graphs in one process, and tests, each keep their
// own) with sluice's instruments: records in and out per agent and topic,
// handler latency, dead letters by cause, restarts, rebalances, table size,
// recovery progress, timers, the lookup service's figures and consumer lag.
// topology.Run records into the one topology.Metrics gives it (without one,
// into instruments that nothing serves); the runtime's recording
// methods are not part of this package's API.
//
// # Lag
//
// Consumer lag is computed elsewhere (from the broker's offsets) and only when
// scraped: [Registry.SetLagSource] registers the function that computes it.
//
// # Usage
//
//	reg := metrics.New()
//	reg.SetLagSource(func(ctx context.Context) ([]metrics.Lag, error) { ... })
//	http.Handle("/metrics", reg.Handler())
//	err := topology.Run(ctx, g, topology.Metrics(reg))
package metrics
