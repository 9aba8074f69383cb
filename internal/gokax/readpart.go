package gokax

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/connect"
)

// ReadPartition reads topic/partition from its first record to its end as of
// the call, and calls fn with each record's key, value (nil for a tombstone)
// and offset, in offset order. With readCommitted it reads committed records
// only; the transaction markers that end a transactional log count toward the
// end (a read-committed reader otherwise never sees them and would wait
// forever), so the partition must have no open transaction, which holds in
// exactly-once mode once the partition's producer fenced its previous owner.
// cfg supplies the client ID, fetch wait and fetch size (nil means [Config]).
//
// It returns when the end is reached, ctx is done (ctx.Err()) or the broker
// fails.
func ReadPartition(ctx context.Context, brokers []string, cfg *sarama.Config, topic string, partition int32, readCommitted bool,
	fn func(key string, value []byte, offset int64)) error {
	if cfg == nil {
		cfg = Config()
	}
	opts, err := connect.Opts(brokers, cfg)
	if err != nil {
		return fmt.Errorf("gokax: read %s/%d: %w", topic, partition, err)
	}
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(max(cfg.Consumer.MaxWaitTime, 10*time.Millisecond)),
		kgo.FetchMaxPartitionBytes(cfg.Consumer.Fetch.Default),
	)
	if readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("gokax: read %s/%d: %w", topic, partition, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("gokax: read %s/%d: end offset: %w", topic, partition, err)
	}
	end, ok := ends.Lookup(topic, partition)
	if !ok {
		return fmt.Errorf("gokax: read %s/%d: the topic has no such partition", topic, partition)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("gokax: read %s/%d: start offset: %w", topic, partition, err)
	}
	if start, ok := starts.Lookup(topic, partition); ok && start.Offset >= end.Offset {
		return nil // empty, or compacted and truncated to nothing
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return fmt.Errorf("gokax: read %s/%d: %w", topic, partition, ferr)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			if !r.Attrs.IsControl() {
				fn(string(r.Key), r.Value, r.Offset)
			}
			done = r.Offset >= end.Offset-1
		})
		if done {
			return nil
		}
	}
}
