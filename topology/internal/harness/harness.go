// Package harness is the door through which package topologytest reaches the
// runtime of package topology without topology exporting it.
//
// This is the standard library's "export for test through an internal package"
// pattern (compare internal/testlog, set by package testing): this package holds
// a function variable, package topology sets it in an init function, and
// topologytest calls it. Only packages under topology/ can import this one, so the
// runtime groups stay out of topology's public API, and topologytest builds them
// with exactly the code [topology.Run] uses (validation, decoding, retries, dead
// letters, buffered effects) instead of a copy of it.
//
// This package cannot import topology (topology imports it), so the graph is
// passed as any; [Groups] checks that it is a *topology.Graph.
package harness

import (
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// Config is the part of topology's run configuration a harness chooses.
type Config struct {
	// Retries is how many times a failed handler call is retried.
	Retries int
	// Backoff is the wait before the first retry; 0 means none.
	Backoff time.Duration
	// Logger receives the runtime's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the agents' clock; nil means time.Now.
	Now func() time.Time
}

// Agent is the runtime of one agent as a harness runs it.
type Agent struct {
	// Group is the agent's goka group, built as topology.Run builds it.
	Group gokax.Group
	// Loop is the agent's loop topic, "" if it has none.
	Loop string
	// Due, set for an agent with timers, returns the fire records of its
	// wall-clock timers due at now, in the order of their times, for the
	// harness to feed to Loop; they count as sent.
	Due func(now time.Time) []Record
	// Next, set with Due, returns the time of the earliest wall-clock timer
	// not yet fired.
	Next func() (time.Time, bool)
}

// Record is a record a harness feeds to a topic.
type Record struct {
	Key     string
	Value   []byte
	Headers map[string][]byte
}

// Groups validates graph, a *topology.Graph, and returns the runtime of each
// of its agents, in declaration order, built as topology.Run builds them. It is
// set by package topology's init, which runs before any importer of topology uses
// it.
var Groups func(graph any, c Config) ([]Agent, error)
