package soak

import (
	"fmt"
	"time"
)

// Report is the outcome of a soak run: what the verifier found and the faults
// the run went through.
type Report struct {
	Mode   Mode
	Counts Counts
	// Kills counts agent processes killed with SIGKILL (and restarted).
	Kills int
	// BrokerBounces counts broker processes killed with SIGKILL and
	// restarted on the same data dir and port.
	BrokerBounces int
	// Rebalances counts agent instances added or stopped gracefully.
	Rebalances int
	// RollingRestarts counts graceful restarts of every broker in turn;
	// Outages brokers down longer than the session timeout.
	RollingRestarts, Outages int
	// Kafka names the cluster: embedded, or kafka-VERSION (Apache Kafka).
	Kafka string
	// Elapsed is the run's duration, verification included.
	Elapsed time.Duration
}

// Failed reports whether the run broke its mode's promise (see
// [Counts.Failed]).
func (r Report) Failed() bool { return r.Counts.Failed(r.Mode) }

// String returns the report as one machine-readable line of key=value pairs:
//
//	records=200000 lost=0 reordered=0 duplicates=0 table_mismatches=0 table_overcounts=0 kills=5 broker_bounces=2 rebalances=4 rolling_restarts=0 outages=0 mode=at-least-once kafka=embedded elapsed=3m12s
//
// records is the number of records the broker acknowledged to the generator.
func (r Report) String() string {
	c := r.Counts
	return fmt.Sprintf("records=%d lost=%d reordered=%d duplicates=%d table_mismatches=%d table_overcounts=%d kills=%d broker_bounces=%d rebalances=%d rolling_restarts=%d outages=%d mode=%s kafka=%s elapsed=%s",
		c.Sent, c.Lost, c.Reordered, c.Duplicates, c.TableMismatches, c.TableOvercounts,
		r.Kills, r.BrokerBounces, r.Rebalances, r.RollingRestarts, r.Outages, r.Mode, r.Kafka, r.Elapsed.Round(time.Second))
}
