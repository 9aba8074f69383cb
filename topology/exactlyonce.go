package topology

import (
	"errors"
	"fmt"
)

// ErrExactlyOnce is returned by [Run] when [ExactlyOnce] is set for an agent
// the mode cannot cover: one with asynchronous inputs ([ConsumeAsync]), whose
// results travel through a producer outside the record's transaction.
var ErrExactlyOnce = errors.New("topology: exactly-once mode unavailable")

// ExactlyOnce runs agents in exactly-once mode with Kafka transactions,
// overriding the default: at-least-once.
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
// How: one transactional producer per input partition of an agent
// (transactional.id "sluice-AGENT-PARTITION", the EOS-v1 pattern; sarama
// cannot do KIP-447). Whoever takes a partition over, after a crash or a
// rebalance, fences the previous owner and aborts its open transaction before
// it recovers the table, and then checks that the committed offsets did not
// move under it.
//
// Not covered: side effects of handlers outside Kafka (HTTP calls, files,
// logs, metrics) happen once per attempt, so possibly more than once; records
// written by an [Emitter] or any producer outside an agent are at-least-once
// (a retried send may duplicate them); agents with asynchronous inputs
// ([ConsumeAsync]) are refused with [ErrExactlyOnce]. A [View] reads committed
// state only when created with this option too (NewView(t, Brokers(...),
// ExactlyOnce())); a read_uncommitted reader of an output or changelog topic
// may see writes of aborted transactions, and a record is visible to
// read_committed readers only once its transaction commits.
//
// Cost: a partition's transaction commits every 1000 records or 100 ms,
// whichever comes first: before a commit the partition waits until every
// write of its open transaction is acknowledged, then adds its offsets,
// commits (a few broker round trips) and syncs the table's local store. So
// outputs reach read-committed consumers up to ~100 ms later than in
// at-least-once mode, and a counting agent ran at about 60% of its
// at-least-once throughput (BenchmarkExactlyOnce, 8 partitions: 77-153k
// against 138-253k msgs/s in alternated runs on 2 shared cores).
// A crash, rebalance or broker failure redoes up to one transaction per
// partition; a partition's new owner first fences the old one, which costs a
// round trip per partition per rebalance.
//
// With the embedded broker, whose compaction (unlike Kafka's) may remove
// committed changelog records superseded by an open transaction that is then
// aborted, an agent's table is restored from its own synced local store; a
// table rebuilt from the changelog alone (a new instance taking a partition
// over right after a crash, or wiped local state) may miss such values.
// Timers are always restored from their topic: on the embedded broker, a
// key's timers may be lost when a process dies while a transaction changing
// them is open and the broker's cleaner runs before the transaction is
// aborted.
//
// The mode needs a broker with transactions (Kafka 0.11 or later, or the
// embedded broker). Every instance of an agent must run in the same mode.
func ExactlyOnce() Option {
	return optionFunc(func(c *runConfig) { c.exactlyOnce = true })
}

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
