package gokax

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type (
	kmsgOffsetCommitRequest  = kmsg.OffsetCommitRequest
	kmsgOffsetCommitResponse = kmsg.OffsetCommitResponse
)

// commitResponseErr returns the first partition error of resp.
func commitResponseErr(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}

// ksession is a sarama.ConsumerGroupSession over one assignment of a
// [kgroup].
type ksession struct {
	g      *kgroup
	ctx    context.Context
	cancel context.CancelFunc
	claims map[string][]int32
	parts  map[topicPartition]*kclaim
	member string
	gen    int32
	done   chan struct{} // closed when goka cleaned the session up, or it never ran

	ended bool // no more commits; guarded by g.commitMu

	mu      sync.Mutex
	state   int // sessionPending, sessionRunning, sessionFinished
	why     string
	marks   map[topicPartition]int64
	stopped bool
}

const (
	sessionPending = iota
	sessionRunning
	sessionFinished
)

func newKsession(g *kgroup, claims map[string][]int32, member string, gen int32) *ksession {
	ctx, cancel := context.WithCancel(context.Background())
	s := &ksession{g: g, ctx: ctx, cancel: cancel, claims: claims, member: member, gen: gen,
		parts: map[topicPartition]*kclaim{}, marks: map[topicPartition]int64{}, done: make(chan struct{})}
	for topic, ps := range claims {
		for _, p := range ps {
			s.parts[topicPartition{topic, p}] = newKclaim(s, topic, p)
		}
	}
	return s
}

// begin marks s as run by Consume; false if it ended before.
func (s *ksession) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != sessionPending {
		return false
	}
	s.state = sessionRunning
	return true
}

// stop ends s's context with a reason (the first one counts). A session
// Consume never ran is finished at once.
func (s *ksession) stop(why string) {
	s.mu.Lock()
	if !s.stopped {
		s.stopped, s.why = true, why
	}
	pending := s.state == sessionPending
	if pending {
		s.state = sessionFinished
	}
	s.mu.Unlock()
	s.cancel()
	if pending {
		close(s.done)
	}
}

// finish records that goka cleaned s up.
func (s *ksession) finish() {
	s.cancel()
	s.mu.Lock()
	s.state = sessionFinished
	s.mu.Unlock()
	close(s.done)
}

func (s *ksession) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

// takeMarks returns the marks not committed yet and forgets them.
func (s *ksession) takeMarks() map[string]map[int32]kgo.EpochOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marks) == 0 {
		return nil
	}
	out := map[string]map[int32]kgo.EpochOffset{}
	for tp, off := range s.marks {
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		out[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	clear(s.marks)
	return out
}

// restoreMarks puts back marks whose commit failed, unless newer ones came.
func (s *ksession) restoreMarks(offsets map[string]map[int32]kgo.EpochOffset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range offsets {
		for p, eo := range ps {
			tp := topicPartition{topic, p}
			if cur, ok := s.marks[tp]; !ok || cur < eo.Offset {
				s.marks[tp] = eo.Offset
			}
		}
	}
}

// resumeAll resumes the partitions s paused.
func (s *ksession) resumeAll() {
	for _, c := range s.parts {
		c.mu.Lock()
		if c.paused {
			c.paused = false
			s.g.cl.ResumeFetchPartitions(map[string][]int32{c.topic: {c.partition}})
		}
		c.mu.Unlock()
	}
}

func (s *ksession) Claims() map[string][]int32 { return s.claims }
func (s *ksession) MemberID() string           { return s.member }
func (s *ksession) GenerationID() int32        { return s.gen }
func (s *ksession) Context() context.Context   { return s.ctx }

// MarkOffset marks offset (the next to read) of a partition for the next
// commit; offsets only move forward.
func (s *ksession) MarkOffset(topic string, partition int32, offset int64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{topic, partition}
	if _, ok := s.parts[tp]; !ok {
		return
	}
	if cur, ok := s.marks[tp]; !ok || cur < offset {
		s.marks[tp] = offset
	}
}

// ResetOffset is not supported: sluice never moves an offset back.
func (s *ksession) ResetOffset(string, int32, int64, string) {}

// MarkMessage marks msg as consumed.
func (s *ksession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}

// Commit commits the marks now.
func (s *ksession) Commit() {
	s.g.commitMu.Lock()
	defer s.g.commitMu.Unlock()
	if !s.ended {
		s.g.commit(s)
	}
}

// Queue limits of a claim: above claimPauseAt records waiting for goka its
// partition is paused, and resumed below claimResumeAt.
const (
	claimPauseAt  = 4096
	claimResumeAt = 1024
)

// kclaim is a sarama.ConsumerGroupClaim of a [ksession]: the records the
// poll loop hands it go to Messages, in order, directly while goka keeps up
// and through a queue and a goroutine of its own while it does not; a long
// queue pauses the partition's fetching.
type kclaim struct {
	s         *ksession
	topic     string
	partition int32
	msgs      chan *sarama.ConsumerMessage
	hwm       atomic.Int64

	mu      sync.Mutex
	queue   []*kgo.Record
	feeding bool // a goroutine sends the queue
	paused  bool

	// ring holds the messages sent to goka, cap(msgs)+2 of them, reused in
	// turn (a message was an allocation per record): goka's ConsumeClaim
	// copies a message's fields into its own before it receives the next,
	// and once the channel took message n, goka received n-cap(msgs) and
	// so is done with every message before it. sent counts the messages
	// sent; only one goroutine sends at a time (push, or feed while
	// feeding), handed over under mu.
	ring []sarama.ConsumerMessage
	sent int
}

func newKclaim(s *ksession, topic string, partition int32) *kclaim {
	c := &kclaim{s: s, topic: topic, partition: partition,
		msgs: make(chan *sarama.ConsumerMessage, max(s.g.cfg.ChannelBufferSize, 1))}
	c.hwm.Store(-1)
	return c
}

// push hands records of the claim's partition to goka; it never blocks.
func (c *kclaim) push(recs []*kgo.Record, hwm int64) {
	c.hwm.Store(hwm)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.feeding {
		c.queue = append(c.queue, recs...)
	} else {
		for i, r := range recs {
			select {
			case c.msgs <- c.message(r):
				c.sent++
				continue
			default:
			}
			c.queue = append(c.queue, recs[i:]...)
			c.feeding = true
			go c.feed()
			break
		}
	}
	if len(c.queue) > claimPauseAt && !c.paused {
		c.paused = true
		c.s.g.cl.PauseFetchPartitions(map[string][]int32{c.topic: {c.partition}})
	}
}

// feed sends the queue to goka until it is empty or the session ends.
func (c *kclaim) feed() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.feeding = false
			c.mu.Unlock()
			return
		}
		r := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if c.paused && len(c.queue) < claimResumeAt {
			c.paused = false
			c.s.g.cl.ResumeFetchPartitions(map[string][]int32{c.topic: {c.partition}})
		}
		c.mu.Unlock()
		select {
		case c.msgs <- c.message(r):
			c.sent++
		case <-c.s.ctx.Done():
			return // the session's records are dropped; the next reads them again
		}
	}
}

// message converts a franz-go record to the sarama message goka reads, in
// the ring's next slot (see kclaim.ring); its headers are new (goka keeps
// them).
func (c *kclaim) message(r *kgo.Record) *sarama.ConsumerMessage {
	if c.ring == nil {
		c.ring = make([]sarama.ConsumerMessage, cap(c.msgs)+2)
	}
	m := &c.ring[c.sent%len(c.ring)]
	*m = sarama.ConsumerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
		Key: r.Key, Value: r.Value}
	if len(r.Headers) > 0 {
		m.Headers = make([]*sarama.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		}
	}
	return m
}

func (c *kclaim) Topic() string                            { return c.topic }
func (c *kclaim) Partition() int32                         { return c.partition }
func (c *kclaim) InitialOffset() int64                     { return sarama.OffsetNewest } // unknown here; sluice does not use it
func (c *kclaim) HighWaterMarkOffset() int64               { return c.hwm.Load() }
func (c *kclaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

var (
	_ sarama.ConsumerGroupSession = (*ksession)(nil)
	_ sarama.ConsumerGroupClaim   = (*kclaim)(nil)
)
