package soak_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/internal/soak"
)

// TestSoakShortOnKafka is TestSoakShort on the package's 3-node Apache
// Kafka cluster, in both modes, one after the other on the same cluster
// (each run with names of its own): agent SIGKILLs and a rebalance as on the
// embedded broker, the SIGKILL of the leader of a partition the chain
// writes, and, at-least-once, a broker down longer than the agents'
// session timeout; exactly-once, a rolling restart of the three brokers.
// Nothing may be lost or reordered, and exactly-once nothing duplicated and
// no table entry off. make chaos KAFKA=real runs the long version.
func TestSoakShortOnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four agent processes through broker faults on Apache Kafka for minutes")
	}
	proctest.NonRacePass(t, "the agents run in sluice-soak processes built without the race detector, so a race pass would repeat this run")
	b := kafkatest.OnKafka(t)
	bin := build(t)
	for _, tc := range []struct {
		mode                     soak.Mode
		rolling, outages, bounce int
	}{
		{soak.AtLeastOnce, 0, 1, 1},
		{soak.ExactlyOnce, 1, 0, 1},
	} {
		t.Run("mode="+tc.mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "work")
			var out, logs bytes.Buffer
			rep, err := soak.Run(t.Context(), soak.Config{
				Binary: bin, Dir: dir, Kafka: b.Kafka(), Namespace: b.Name(tc.mode.String() + "-"),
				Records: 10000, Keys: 100, Mode: tc.mode, Interval: 3 * time.Second, DurationCap: 5 * time.Minute,
				Kills: 2, Rebalances: 1, BrokerBounces: tc.bounce, RollingRestarts: tc.rolling, Outages: tc.outages,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)), Out: &out,
			})
			t.Logf("%s", rep)
			failed := err != nil || rep.Failed() || rep.Counts.Sent != 10000 || rep.Kills < 2 || rep.BrokerBounces != tc.bounce ||
				rep.RollingRestarts != tc.rolling || rep.Outages != tc.outages
			if tc.mode == soak.ExactlyOnce && rep.Counts.Duplicates != 0 {
				failed = true
			}
			if failed {
				t.Errorf("soak on Kafka: %v; report %s breaks the promise or misses faults", err, rep)
				t.Logf("verifier:\n%s\norchestrator (last 40 lines):\n%s", out.String(), lastLines(logs.String(), 40))
				paths, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
				for _, p := range paths {
					b, _ := os.ReadFile(p)
					t.Logf("%s (last 25 lines):\n%s", filepath.Base(p), lastLines(string(b), 25))
				}
			}
		})
	}
}
