package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A broker process that dies leaves the transactions it had open without a
// marker: kfake, replaying its log on the next start, counts them as aborted
// but writes no abort marker, and so breaks read-committed consumers in two
// ways. Clients skip an aborted transaction's records until its producer's
// next abort marker, so the committed records the producer writes after the
// restart are skipped too; and a consumer that waits for the partition's
// last offset (goka recovering a table) never gets it. A later replay of the
// log even counts the orphaned records as part of the producer's next
// committed transaction. Kafka's transaction coordinator always completes an
// abort with markers; abortOrphans does it for kfake.

// uncleanDataDir reports whether dir holds the state of a broker that did
// not close (kfake writes session_state.json on close and removes it when it
// starts) and that served transactional producers (their transactional.id is
// in kfake's producer-id log).
func uncleanDataDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err != nil {
		return false // a new dir
	}
	if _, err := os.Stat(filepath.Join(dir, "session_state.json")); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	pids, err := os.ReadFile(filepath.Join(dir, "pids.log"))
	return err != nil || transactional.Match(pids)
}

// transactional matches a producer-id log entry of a transactional producer.
var transactional = regexp.MustCompile(`"txid":"[^"]`)

// abortOrphans starts kfake on dir alone (on a free loopback port, so no
// client can write before the markers), writes an abort marker for every
// transaction left without one, and closes it cleanly. It returns the
// number of markers written.
func abortOrphans(cfg config) (int, error) {
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(cfg.dataDir),
		kfake.WithLogger(newCloseLog(cfg.logger)),
	}
	if cfg.syncWrites {
		kopts = append(kopts, kfake.SyncWrites())
	}
	c, err := newCluster(kopts)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	n := 0
	var errs []error
	for _, t := range topics.Sorted() {
		for _, p := range t.Partitions.Sorted() {
			orphans, err := scanOrphans(ctx, cl, t.ID, t.Topic, p.Partition)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for pid, epoch := range orphans {
				if err := writeAbort(ctx, cl, t.Topic, p.Partition, pid, epoch); err != nil {
					errs = append(errs, err)
					continue
				}
				n++
			}
		}
	}
	return n, errors.Join(errs...)
}

// Attribute bits of a record batch (Kafka's RecordBatch format).
const (
	batchTransactional = 0x10
	batchControl       = 0x20
)

// scanOrphans reads the partition from its start and returns the producers
// whose last transactional records have no marker after them, with the
// epoch they wrote them with.
func scanOrphans(ctx context.Context, cl *kgo.Client, id [16]byte, topic string, partition int32) (map[int64]int16, error) {
	open := map[int64]int16{}
	for next := int64(0); ; {
		p, err := fetch(ctx, cl, id, topic, partition, next)
		if err != nil {
			return nil, err
		}
		moved := false
		for raw := p.RecordBatches; len(raw) > 0; {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil || 12+int(b.Length) > len(raw) {
				break // the fetch ends inside this batch
			}
			raw = raw[12+int(b.Length):]
			last := b.FirstOffset + int64(b.LastOffsetDelta)
			if last < next {
				continue
			}
			switch {
			case b.Attributes&batchControl != 0: // a marker
				delete(open, b.ProducerID)
			case b.Attributes&batchTransactional != 0: // data
				open[b.ProducerID] = b.ProducerEpoch
			}
			next, moved = last+1, true
		}
		if next >= p.HighWatermark {
			return open, nil
		}
		if !moved && p.LogStartOffset > next { // compacted or deleted below it
			next, moved = p.LogStartOffset, true
		}
		if !moved {
			return nil, fmt.Errorf("scan %s/%d: no progress at offset %d of %d", topic, partition, next, p.HighWatermark)
		}
	}
}

// fetch reads the partition from offset next, read-uncommitted.
func fetch(ctx context.Context, cl *kgo.Client, id [16]byte, topic string, partition int32, next int64) (kmsg.FetchResponseTopicPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 32 << 20
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, next, 32<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("scan %s/%d: %w", topic, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("scan %s/%d: unexpected fetch response", topic, partition)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if errors.Is(err, kerr.OffsetOutOfRange) {
			return p, nil // an empty partition whose start moved past 0
		}
		return p, fmt.Errorf("scan %s/%d at %d: %w", topic, partition, next, err)
	}
	return p, nil
}

// writeAbort writes an abort marker of producer pid to the partition.
func writeAbort(ctx context.Context, cl *kgo.Client, topic string, partition int32, pid int64, epoch int16) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, false
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("abort marker for %s/%d: %w", topic, partition, err)
	}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("abort marker for %s/%d: %w", topic, partition, err)
				}
			}
		}
	}
	return nil
}
