package gokax

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kconsumer is the sarama.Consumer goka reads tables with (a processor's
// table recovery and joins, a view's partitions): one franz-go client for
// every partition it reads, one goroutine polling it, and a channel per
// partition that goka reads. Its Close closes the client, which franz-go
// does synchronously: no connection or goroutine outlives it.
//
// sarama's consumer, which it replaces, ran on a sarama client that opened
// brokers from inside its own methods; one opened while a failed metadata
// refresh dropped the same broker stayed open for good (goleak after
// lookup's outage tests), and no wrapper around the client could see those
// opens. It also cost goroutines per partition and per broker.
//
// The poll loop never blocks on a partition: a partition whose channel is
// full keeps the rest of its fetch in a backlog, is paused (franz-go then
// fetches it no more, and drops what it buffered of it, to fetch it again
// from the same offset), and a goroutine of its own hands the backlog to
// goka and resumes it. A partition costs its channel and an entry in the
// client's fetch session; a goroutine only while goka is behind on it.
//
// Partitions are added and removed by the poll loop alone, between polls,
// so that the records of a poll always belong to the partitions as they
// were when it started: goka reads a partition again (recovery, then the
// view's catch-up) right after it closed it, and records fetched for the
// closed one must not reach the new one.
//
// With markers (exactly-once mode) it reads committed records only and
// delivers each transaction marker as a tombstone of [MarkerKey] at the
// marker's offset: goka recovers a table until it received the record at
// the partition's high watermark minus one, and a changelog written in
// transactions ends with a marker, which a read-committed consumer
// otherwise skips without a trace, so goka would wait for it forever. The
// tombstones reach goka, whose stores ignore them (tables.Store and
// [txnStorage]: deleting a key that does not exist), and set the offset.
type kconsumer struct {
	cl       *kgo.Client
	chanSize int
	watch    *fetchWatch // nil: none

	ctx    context.Context // cancelled by Close: the poll loop stops
	cancel context.CancelFunc
	done   chan struct{} // closed when the poll loop returned

	mu struct {
		sync.Mutex
		parts  map[topicPartition]*kpartition // open, by goka's view
		ops    []kop                          // for the poll loop, in order
		wake   context.CancelFunc             // ends the poll in progress
		closed bool
	}
	closeOnce sync.Once
}

// kop is a partition to add to the client (pc set) or to remove from it.
type kop struct {
	tp topicPartition
	pc *kpartition // nil: remove
	at kgo.Offset
}

// errConsumerClosed is the error of ConsumePartition on a closed consumer.
var errConsumerClosed = fmt.Errorf("gokax: table consumer closed: %w", sarama.ErrClosedClient)

// fetchWatch is told what a table consumer's fetches met: each fetch
// error (deny times ACL denials, see [Denials]), and records of a topic,
// which end its read denial's streak.
type fetchWatch struct {
	deny    func(topic string, err error)
	denials *Denials
}

// newKconsumer returns a consumer to brokers on cfg, named clientID, that
// keeps transaction markers if markers is set, and whose fetches w (nil:
// none) watches.
func newKconsumer(brokers []string, cfg *sarama.Config, clientID string, markers bool, w *fetchWatch) (*kconsumer, error) {
	opts, err := kgoCommonOpts(brokers, cfg, clientID)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.FetchMaxWait(max(cfg.Consumer.MaxWaitTime, 10*time.Millisecond)),
		kgo.FetchMaxPartitionBytes(cfg.Consumer.Fetch.Default),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if markers {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("gokax: table consumer: %w", err)
	}
	c := &kconsumer{cl: cl, chanSize: max(cfg.ChannelBufferSize, 1), done: make(chan struct{}), watch: w}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.parts = map[topicPartition]*kpartition{}
	c.mu.wake = func() {}
	go c.run()
	return c, nil
}

// ConsumePartition starts reading topic/partition at offset (or
// sarama.OffsetOldest, sarama.OffsetNewest).
func (c *kconsumer) ConsumePartition(topic string, partition int32, offset int64) (sarama.PartitionConsumer, error) {
	at := kgo.NewOffset().At(offset)
	switch offset {
	case sarama.OffsetOldest:
		at = kgo.NewOffset().AtStart()
	case sarama.OffsetNewest:
		at = kgo.NewOffset().AtEnd()
	}
	tp := topicPartition{topic, partition}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, errConsumerClosed
	}
	if _, ok := c.mu.parts[tp]; ok {
		return nil, sarama.ConfigurationError(fmt.Sprintf("gokax: %s/%d is already being consumed", topic, partition))
	}
	pc := &kpartition{
		c: c, tp: tp,
		msgs: make(chan *sarama.ConsumerMessage, c.chanSize),
		errs: make(chan *sarama.ConsumerError, 1),
		quit: make(chan struct{}),
	}
	c.mu.parts[tp] = pc
	c.queueLocked(kop{tp: tp, pc: pc, at: at})
	return pc, nil
}

// queueLocked hands op to the poll loop and wakes it.
func (c *kconsumer) queueLocked(op kop) {
	c.mu.ops = append(c.mu.ops, op)
	c.mu.wake()
}

// closed forgets pc, which closed, and has the poll loop remove it.
func (c *kconsumer) closed(pc *kpartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.parts[pc.tp] == pc {
		delete(c.mu.parts, pc.tp)
	}
	if !c.mu.closed {
		c.queueLocked(kop{tp: pc.tp})
	}
}

// run is the poll loop: it applies the partitions added and removed since
// the last poll, polls, and hands each partition its records.
func (c *kconsumer) run() {
	defer close(c.done)
	live := map[topicPartition]*kpartition{} // the client's partitions: the loop's alone
	for {
		c.mu.Lock()
		ops := c.mu.ops
		c.mu.ops = nil
		pctx, wake := context.WithCancel(c.ctx)
		c.mu.wake = wake
		c.mu.Unlock()
		c.apply(ops, live)
		fs := c.cl.PollFetches(pctx)
		wake()
		if c.ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		c.dispatch(fs, live)
	}
}

// apply adds and removes partitions as ops say, in order; consecutive ops
// of one kind in one call.
func (c *kconsumer) apply(ops []kop, live map[topicPartition]*kpartition) {
	for len(ops) > 0 {
		adding := ops[0].pc != nil
		n := 1
		for n < len(ops) && (ops[n].pc != nil) == adding {
			n++
		}
		batch := ops[:n]
		ops = ops[n:]
		if adding {
			add := map[string]map[int32]kgo.Offset{}
			for _, op := range batch {
				if add[op.tp.topic] == nil {
					add[op.tp.topic] = map[int32]kgo.Offset{}
				}
				add[op.tp.topic][op.tp.partition] = op.at
				live[op.tp] = op.pc
			}
			c.cl.AddConsumePartitions(add)
			continue
		}
		remove := map[string][]int32{}
		for _, op := range batch {
			remove[op.tp.topic] = append(remove[op.tp.topic], op.tp.partition)
			delete(live, op.tp)
		}
		c.cl.RemoveConsumePartitions(remove)
		// A partition closed while paused stays paused in franz-go: the
		// next reader of it would get nothing.
		c.cl.ResumeFetchPartitions(remove)
	}
}

// dispatch hands the records and errors of fs to their partitions.
func (c *kconsumer) dispatch(fs kgo.Fetches, live map[topicPartition]*kpartition) {
	fs.EachError(func(topic string, partition int32, err error) {
		if errors.Is(err, context.Canceled) || topic == "" {
			return // a wake-up, or the client's own
		}
		if c.watch != nil {
			c.watch.deny(topic, err)
		}
		for tp, pc := range live {
			if tp.topic == topic && (partition < 0 || tp.partition == partition) {
				pc.fail(err)
			}
		}
	})
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		pc := live[topicPartition{p.Topic, p.Partition}]
		if pc == nil {
			return
		}
		pc.hwm.Store(p.HighWatermark)
		if len(p.Records) == 0 {
			return
		}
		if c.watch != nil {
			c.watch.denials.clearTopic("READ", p.Topic)
		}
		msgs := make([]*sarama.ConsumerMessage, len(p.Records))
		for i, r := range p.Records {
			m := &sarama.ConsumerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
			if r.Attrs.IsControl() {
				m.Key = []byte(MarkerKey)
			} else {
				m.Key, m.Value = r.Key, r.Value
				for _, h := range r.Headers {
					m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
				}
			}
			msgs[i] = m
		}
		pc.deliver(msgs)
	})
}

// HighWaterMarks returns the high watermark of every open partition, as
// its last fetch said.
func (c *kconsumer) HighWaterMarks() map[string]map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[int32]int64{}
	for tp, pc := range c.mu.parts {
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]int64{}
		}
		out[tp.topic][tp.partition] = pc.hwm.Load()
	}
	return out
}

// Topics returns the topics of the cluster.
func (c *kconsumer) Topics() ([]string, error) {
	ctx, cancel := context.WithTimeout(c.ctx, requestWait)
	defer cancel()
	m, err := metadata(ctx, c.cl, nil)
	if err != nil {
		return nil, err
	}
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	return topics, nil
}

// Partitions returns the partitions of topic.
func (c *kconsumer) Partitions(topic string) ([]int32, error) {
	ctx, cancel := context.WithTimeout(c.ctx, requestWait)
	defer cancel()
	return partitions(ctx, c.cl, topic)
}

func (c *kconsumer) Pause(tps map[string][]int32) { c.each(tps, (*kpartition).Pause) }

func (c *kconsumer) Resume(tps map[string][]int32) { c.each(tps, (*kpartition).Resume) }

func (c *kconsumer) PauseAll() { c.each(nil, (*kpartition).Pause) }

func (c *kconsumer) ResumeAll() { c.each(nil, (*kpartition).Resume) }

// each calls f with every open partition of tps (nil: every one).
func (c *kconsumer) each(tps map[string][]int32, f func(*kpartition)) {
	c.mu.Lock()
	var pcs []*kpartition
	for tp, pc := range c.mu.parts {
		if tps == nil || slices.Contains(tps[tp.topic], tp.partition) {
			pcs = append(pcs, pc)
		}
	}
	c.mu.Unlock()
	for _, pc := range pcs {
		f(pc)
	}
}

// Close closes every partition still open (goka sees its channels close),
// stops the poll loop and closes the client. It returns once every
// connection and goroutine of the consumer is gone. Closing again does
// nothing.
func (c *kconsumer) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.mu.closed = true
		pcs := make([]*kpartition, 0, len(c.mu.parts))
		for _, pc := range c.mu.parts {
			pcs = append(pcs, pc)
		}
		c.mu.Unlock()
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		c.cancel()
		<-c.done
		c.cl.Close()
	})
	return nil
}

var (
	_ sarama.Consumer          = (*kconsumer)(nil)
	_ sarama.PartitionConsumer = (*kpartition)(nil)
)
