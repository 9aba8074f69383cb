package gokax

import (
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
)

// Options are the runtime settings of a [Processor] (and of a [View], which
// uses Brokers, Config, Storage, Logger, ExactlyOnce and Tester).
type Options struct {
	// Brokers are the seed brokers.
	Brokers []string
	// Config is the sarama configuration; nil means [Config]. It is cloned.
	Config *sarama.Config
	// Storage builds each partition's table storage.
	Storage storage.Builder
	// Logger receives goka's log lines at debug level; nil discards them.
	Logger *slog.Logger
	// OnAssign, if set, is called with the input partitions assigned to this
	// instance after each rebalance.
	OnAssign func(partitions []int32)
	// OnMark, if set, is called with next, an offset of topic/partition below
	// which every record of the partition is done (its writes acknowledged):
	// when a consumer-group claim starts (its first offset, which the group
	// committed) and whenever goka marks records done, in order. It is called
	// from goka's and the consumer group's goroutines and must not block. A record below
	// next may still be read again (its commit is not yet written), but
	// nothing it wrote can be lost.
	OnMark func(topic string, partition int32, next int64)
	// OnRevoke, if set, is called when a consumer-group session ends, after
	// goka stopped its partitions: they may be another instance's now.
	OnRevoke func()
	// ExactlyOnce, if set, processes exactly once with Kafka transactions
	// (and a view reads committed records only); nil means at-least-once.
	// It is the only switch of the mode.
	ExactlyOnce *ExactlyOnce
	// Suspects, if set, are kept across the processors of a group: the
	// records a refused write made suspects of are handled in isolation by
	// the next processor (see isolate.go). nil keeps them for this processor
	// only.
	Suspects *Suspects
	// Denials, if set, are kept across the processors of a group: an ACL
	// denial that outlasts Consumer.Group.Rebalance.Timeout over several
	// runs (a denied write fails each) stops the processor with
	// [ErrNotAuthorized]. nil times denials within this processor only.
	Denials *Denials
	// Tester, if set, runs the processor on goka's in-memory Kafka mock (a
	// *tester.Tester of github.com/lovoo/goka/tester) instead of brokers: it
	// replaces the producer, consumers, topic manager, storage and client ID, so
	// Brokers, Config and Storage are ignored. For unit tests only.
	Tester goka.Tester
}

// PartitionChannelSize is how many records goka may queue between a partition's
// consumer and its processing goroutine; goka's default is 10. With 256, and
// ChannelBufferSize at 1024 (see [Config]), a counting agent on 8 partitions
// processed faster (BenchmarkProcessorCount's workload, alternated runs; the
// README's defaults table has the figures): fewer hand-offs stall on a full
// channel.
const PartitionChannelSize = 256

// config returns Config, or [Config] if it is nil, read committed in
// exactly-once mode.
func (o Options) config() *sarama.Config {
	cfg := o.Config
	if cfg == nil {
		cfg = Config()
	}
	if o.exactlyOnce() {
		cfg = txnConfig(cfg) // read committed everywhere; see kconsumer
	}
	return cfg
}

// logger returns Logger, or a logger that discards everything if it is nil.
func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// exactlyOnce reports whether o is in exactly-once mode: ExactlyOnce is set,
// and the processor runs on brokers (goka's tester has no transactions).
func (o Options) exactlyOnce() bool { return o.ExactlyOnce != nil && o.Tester == nil }
