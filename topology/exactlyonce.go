package topology

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// ErrExactlyOnce is returned by [Run] when [ExactlyOnce] is set for an agent
// the mode cannot cover: one with asynchronous inputs ([ConsumeAsync]), whose
// results travel through a producer outside the record's transaction.
var ErrExactlyOnce = errors.New("topology: exactly-once mode unavailable")

// ExactlyOnce runs agents in exactly-once mode with Kafka transactions,
// overriding the default: at-least-once. commitInterval is the longest an
// instance's transaction stays open with records in it (see Cost below);
// pass [DefaultCommitInterval] unless you measured another. Run fails with
// [ErrOption] unless it is positive. A [View] takes it too, to read
// committed updates only; the interval does not matter there.
//
// # At-least-once (the default)
//
// No input record is lost: its offset is committed only after every write it
// caused (state changelog, emits, dead letter) was acknowledged (acks=all),
// in offset order. A crash, a rebalance or a broker outage replays the records
// since the last commit: their emits appear again (duplicates downstream) and
// their state updates are applied again (a counter counts them twice).
//
// # Exactly-once
//
// Each input record's effects happen exactly once, as seen by read-committed
// consumers, through SIGKILLs, rebalances and broker restarts:
//
//   - Outputs: the emits of a record (and its dead letter) are written in the
//     same Kafka transaction as its state change and its input offset. A
//     consumer with isolation.level=read_committed (every sluice agent and
//     table in this mode; kcat -X isolation.level=read_committed) sees each
//     exactly once, in order per key; a read_uncommitted consumer may also see
//     writes of aborted transactions.
//   - State: the agent's table (local Pebble store and compacted changelog)
//     reflects each committed record exactly once. A transaction's writes
//     reach the local store only after it committed, so the store never holds
//     aborted state and needs no wipe after a crash; what a crash loses is
//     replayed from the committed changelog.
//   - Offsets: input offsets are committed inside the transaction (for the
//     agent's consumer group), never on their own.
//   - Timers ([Agent.OnTimer]): a timer set by a handling is kept with its
//     other effects, and a timer fires once: its handler's effects and the
//     timer's removal commit together with the fire record's offset.
//
// How: one transactional producer per agent instance, whatever the number
// of partitions (transactional.id "sluice-AGENT-INSTANCE", KIP-447):
// offsets go into the transaction with the consumer group's generation, so
// an instance that lost its partitions (its session expired, a rebalance
// moved them) can no longer commit them: its transaction aborts. INSTANCE
// names the data dir (DataDir/instance, made on first use): an instance
// restarted on its data dir fences its predecessor and aborts the
// transaction it left open at once; one that never comes back leaves its
// open transaction to the broker, which aborts it after 20 s
// (gokax.TransactionTimeout), and read-committed readers of what it wrote
// wait until then.
//
// Not covered: side effects of handlers outside Kafka (HTTP calls, files,
// logs, metrics) happen once per attempt, so possibly more than once; records
// written by an [Emitter] or any producer outside an agent are at-least-once
// (a retried send may duplicate them); agents with asynchronous inputs
// ([ConsumeAsync]) are refused with [ErrExactlyOnce]. A [View] reads committed
// state only when created with this option too (NewView(t, Brokers(...),
// ExactlyOnce(DefaultCommitInterval))); a read_uncommitted reader of an output or changelog topic
// may see writes of aborted transactions, and a record is visible to
// read_committed readers only once its transaction commits.
//
// Cost: the instance's transaction commits every commitInterval (100 ms
// with [DefaultCommitInterval]) or 50,000 records, whichever comes first: before a commit the agent stops taking records
// until every write of the open transaction is acknowledged, then adds the
// offsets, commits (a few broker round trips) and writes the committed state
// to the tables' local stores while the next records are handled. So
// outputs reach read-committed consumers up to ~commitInterval later than in
// at-least-once mode, and a counting agent ran at 0.81-0.82x of its
// at-least-once throughput on Apache Kafka (BenchmarkExactlyOnce, 8
// partitions; 0.73-0.78x on 256). A crash, rebalance or broker failure redoes up
// to one transaction.
//
// Tables and timers are restored from their changelogs, which hold every
// committed write: Kafka and the embedded broker compact only below the last
// stable offset, so a record of an open transaction never removes a committed
// one.
//
// The mode needs a broker with transactions (Kafka 0.11 or later, or the
// embedded broker). Every instance of an agent must run in the same mode.
func ExactlyOnce(commitInterval time.Duration) Option {
	return option("ExactlyOnce", forRun|forView, func(c *runConfig) {
		c.exactlyOnce, c.commitInterval = true, commitInterval
	})
}

// DefaultCommitInterval is the commit interval of [ExactlyOnce] that
// sluice's figures were measured with: 100 ms. Shorter intervals bring
// outputs to read-committed readers sooner and cost throughput (more
// commits); longer ones the reverse.
const DefaultCommitInterval = gokax.DefaultCommitInterval

// checkExactlyOnce reports why agents cannot run in exactly-once mode.
func checkExactlyOnce(c *runConfig, agents []agentSpec) error {
	if !c.exactlyOnce {
		return nil
	}
	for _, a := range agents {
		if a.async {
			return fmt.Errorf("agent %q has asynchronous inputs, whose results are written outside the record's transaction; run it without ExactlyOnce or use Consume: %w", a.name, ErrExactlyOnce)
		}
	}
	return nil
}

// instanceName returns the name of the instance that runs on dataDir, from
// dataDir/instance, which it creates with a random name on first use.
func instanceName(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "instance")
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("instance name: %w", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(name+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("instance name: %w", err)
	}
	return name, nil
}
