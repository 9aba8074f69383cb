// Package instrument holds sluice's Prometheus instruments and the methods
// the runtime records with: an agent's records in and out, latency, dead
// letters, restarts, rebalances, recovery, table size and timers; the lookup
// service's keys, requests and view freshness; and consumer lag, computed
// when scraped. Package metrics wraps a [Set] as its public Registry;
// topology and lookup reach the Set with [Of].
//
// The runtime binds an agent's instruments once with [Set.Agent] and keeps
// the returned [Agent]: its counters are pre-bound to their labels, so
// counting a record is one atomic add, never a label lookup.
package instrument

// Of returns the Set of a *metrics.Registry, or nil for a nil one. Package
// metrics sets it when it is initialised; it takes an any because package
// metrics imports this one.
var Of func(registry any) *Set
