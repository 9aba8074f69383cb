package gokax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitOffsets adds offsets to the open transaction for the group, with
// the group's generation and member id (TxnOffsetCommit v3, KIP-447): the
// coordinator refuses them if this member lost its partitions. Topics are
// named, as at the client's protocol versions ([KafkaVersion]; later
// versions name them by ID).
func (t *txns) commitOffsets(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	pid, epoch, err := t.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("transactional producer %q: producer id: %w: %w", t.id, ErrTxn, err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = t.id, pid, epoch, t.group
	err = retryConcurrent(ctx, func() error {
		resp, err := add.RequestWith(ctx, t.cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	if err != nil {
		return fmt.Errorf("transactional producer %q: add offsets: %w: %w", t.id, ErrTxn, err)
	}
	member, gen := t.cl.GroupMetadata()
	if t.member != nil {
		member, gen = t.member()
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = t.id, t.group, pid, epoch
	req.Generation, req.MemberID = gen, member
	for topic, ps := range offsets {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		for p, eo := range ps {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, eo.Offset, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	err = retryConcurrent(ctx, func() error {
		resp, err := req.RequestWith(ctx, t.cl)
		if err != nil {
			return err
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("transactional producer %q: commit offsets (generation %d): %w: %w", t.id, gen, ErrTxn, err)
	}
	return nil
}

// commitPlain commits offsets outside any transaction.
func (t *txns) commitPlain(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	var cerr error
	t.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = commitResponseErr(resp)
		}
		cerr = err
	})
	if cerr != nil {
		return fmt.Errorf("transactional producer %q: commit offsets: %w: %w", t.id, ErrTxn, cerr)
	}
	return nil
}

// retryConcurrent runs do until it returns something else than a Kafka
// error that retrying fixes (CONCURRENT_TRANSACTIONS: the previous
// transaction is still being completed; coordinator moves), backing off.
func retryConcurrent(ctx context.Context, do func() error) error {
	wait := 10 * time.Millisecond
	for {
		err := do()
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || (!ke.Retriable && ke != kerr.ConcurrentTransactions) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}
