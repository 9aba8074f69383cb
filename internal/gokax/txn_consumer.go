package gokax

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/connect"
)

// markerConsumer is the sarama consumer goka reads tables with in
// exactly-once mode: it reads committed records only, and delivers each
// transaction marker as a tombstone of [MarkerKey] at the marker's offset.
//
// goka recovers a table until it has received the record at the partition's
// high watermark minus one. A changelog written in transactions ends with a
// marker, which a read-committed sarama consumer skips without a trace, so
// goka would wait for it forever. franz-go can keep control records; their
// tombstones reach goka, whose stores ignore them (tables.Store and
// [txnStorage]: deleting a key that does not exist), and set the offset.
type markerConsumer struct {
	sarama.Consumer // for everything but ConsumePartition
	brokers         []string
	cfg             *sarama.Config
}

func (c markerConsumer) ConsumePartition(topic string, partition int32, offset int64) (sarama.PartitionConsumer, error) {
	at := kgo.NewOffset().At(offset)
	switch offset {
	case sarama.OffsetOldest:
		at = kgo.NewOffset().AtStart()
	case sarama.OffsetNewest:
		at = kgo.NewOffset().AtEnd()
	}
	cl, err := connect.NewClient(c.brokers, c.cfg,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: at}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(max(c.cfg.Consumer.MaxWaitTime, 10*time.Millisecond)),
		kgo.FetchMaxPartitionBytes(c.cfg.Consumer.Fetch.Default),
	)
	if err != nil {
		return nil, fmt.Errorf("gokax: table consumer for %s/%d: %w", topic, partition, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pc := &markerPartition{
		cl: cl, topic: topic, partition: partition, cancel: cancel,
		msgs: make(chan *sarama.ConsumerMessage, c.cfg.ChannelBufferSize),
		errs: make(chan *sarama.ConsumerError, 1),
		done: make(chan struct{}),
	}
	pc.hwm.Store(-1)
	go pc.run(ctx)
	return pc, nil
}

type markerPartition struct {
	cl        *kgo.Client
	topic     string
	partition int32
	cancel    context.CancelFunc
	msgs      chan *sarama.ConsumerMessage
	errs      chan *sarama.ConsumerError
	done      chan struct{}
	hwm       atomic.Int64
	paused    atomic.Bool
	closeOnce sync.Once // cancels run
	clOnce    sync.Once // closes cl
}

func (pc *markerPartition) run(ctx context.Context) {
	defer close(pc.done)
	defer close(pc.msgs)
	defer close(pc.errs)
	for {
		fs := pc.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			select {
			case pc.errs <- &sarama.ConsumerError{Topic: pc.topic, Partition: pc.partition, Err: ferr}:
			case <-ctx.Done():
				return
			}
		}
		stop := false
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if stop {
				return
			}
			pc.hwm.Store(p.HighWatermark)
			for _, r := range p.Records {
				m := &sarama.ConsumerMessage{
					Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
				}
				if r.Attrs.IsControl() {
					m.Key = []byte(MarkerKey)
				} else {
					m.Key, m.Value = r.Key, r.Value
					for _, h := range r.Headers {
						m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
					}
				}
				select {
				case pc.msgs <- m:
				case <-ctx.Done():
					stop = true
					return
				}
			}
		})
		if stop {
			return
		}
	}
}

func (pc *markerPartition) AsyncClose() {
	pc.closeOnce.Do(func() {
		pc.cancel()
		go func() {
			<-pc.done
			pc.clOnce.Do(pc.cl.Close)
		}()
	})
}

func (pc *markerPartition) Close() error {
	pc.closeOnce.Do(func() { pc.cancel() })
	// Drain, as sarama's Close does, so that run can return.
	go func() {
		for range pc.msgs {
		}
	}()
	<-pc.done
	pc.clOnce.Do(pc.cl.Close)
	return nil
}

func (pc *markerPartition) Messages() <-chan *sarama.ConsumerMessage { return pc.msgs }
func (pc *markerPartition) Errors() <-chan *sarama.ConsumerError     { return pc.errs }
func (pc *markerPartition) HighWaterMarkOffset() int64               { return pc.hwm.Load() }

func (pc *markerPartition) Pause() {
	pc.paused.Store(true)
	pc.cl.PauseFetchPartitions(map[string][]int32{pc.topic: {pc.partition}})
}

func (pc *markerPartition) Resume() {
	pc.paused.Store(false)
	pc.cl.ResumeFetchPartitions(map[string][]int32{pc.topic: {pc.partition}})
}

func (pc *markerPartition) IsPaused() bool { return pc.paused.Load() }
