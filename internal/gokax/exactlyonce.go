package gokax

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/IBM/sarama"
)

// ExactlyOnce configures a [Processor] to process exactly once with Kafka
// transactions, KIP-447 style: one transactional producer per processor
// (its franz-go client, see [kproc]), whatever the number of partitions.
// Setting [Options.ExactlyOnce] is the one way to turn the mode on; the
// transaction itself is [txns] (txn.go, txn_commit.go, txn_offsets.go).
//
// Every write a record causes (the changelog record of its state, its
// emits, its dead letter) goes into the processor's open transaction, and
// the input offsets of the records done go into the same transaction
// (TxnOffsetCommit for the group, with the group's generation and member
// id), so outputs, changelog and offsets become visible together or not at
// all. A member that lost its partitions (a zombie: its session expired,
// the partitions moved) cannot commit them any more: the group coordinator
// refuses its offsets for the stale generation, and its transaction aborts.
// goka's own offset commits are withheld. The table's local store receives
// a transaction's writes only after the transaction committed (see
// [txnStorage]), so it never holds aborted state. Every consumer reads
// committed records only, and the group's offsets are read stable (after
// any transaction that holds offsets for them ended).
//
// The transactional.id, "sluice-GROUP-INSTANCE", is stable across restarts
// of an instance: the restarted instance fences its predecessor and aborts
// the transaction it left open at once. One that never comes back leaves
// its open transaction to the broker, which aborts it after
// [TransactionTimeout]; until then read-committed readers of the partitions
// it wrote wait.
type ExactlyOnce struct {
	// CommitInterval is the longest the transaction stays open with
	// records in it; 0 means [DefaultCommitInterval].
	CommitInterval time.Duration
	// CommitRecords commits the transaction once it holds that many input
	// records; 0 means [DefaultCommitRecords].
	CommitRecords int
	// Instance names this instance in its transactional.id; "" picks a
	// random one (a restart then cannot abort its predecessor's open
	// transaction: see above).
	Instance string
}

// Defaults of [ExactlyOnce]: see BenchmarkExactlyOnce. At the rates one
// instance reaches (up to ~400k records/s on 2 cores) the interval commits
// first, as Kafka Streams' commit.interval.ms does (it has no record bound);
// the record bound caps the work one abort redoes. A transaction's memory is
// its distinct keys' state, not its records (txnStorage keeps each key's
// last write). With 10,000 records a transaction on Kafka committed every
// 50-65 ms and ran at 0.65-0.66x of at-least-once on 8 partitions, 0.56-0.59x
// on 256; with 50,000, at 0.81-0.82x and 0.73-0.78x (alternated runs).
const (
	DefaultCommitInterval = 100 * time.Millisecond
	DefaultCommitRecords  = 50000
)

// TransactionTimeout is how long the broker keeps a transaction open before
// it aborts it: the rebalance timeout, so that a member whose transaction
// outlives it has lost its partitions anyway, and a crashed instance that
// does not return holds read-committed readers back at most that long.
const TransactionTimeout = DefaultRebalanceTimeout

// ErrTxn is wrapped by every failure of a transaction: the processor stops,
// the open transaction is aborted, and the records since the last commit are
// processed again.
var ErrTxn = errors.New("gokax: transaction failed")

// TransactionalID returns the transactional.id of group's producer on
// instance.
func TransactionalID(group, instance string) string {
	return "sluice-" + group + "-" + instance
}

// randomInstance returns a random instance name.
func randomInstance() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// txnConfig returns a clone of cfg for read-committed consumers.
func txnConfig(cfg *sarama.Config) *sarama.Config {
	c := clone(cfg)
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	return c
}
