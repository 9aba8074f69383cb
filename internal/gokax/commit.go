package gokax

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// commits keeps goka from committing past a record that is not done.
//
// goka marks a record's offset when the record's writes are acknowledged, in
// the order the acknowledgements come, and the consumer group (franz-go's under
// goka, see [kgroup]; sarama's before it) commits the highest offset marked. A record whose write failed (the processor then stops) or is still in
// flight is skipped by the commit of a later record that finished first, and is
// never read again: a record after a failed write was committed past it on the
// embedded broker every time (TestFailedWriteIsNotCommittedPast), and an outage
// lost hundreds of records this way.
//
// commits wraps the consumer group goka runs on: goka's marks go to a session
// that lets a mark through only up to the first record of its partition that is
// not done. Records are registered as goka hands them to the group's callbacks,
// which it does in offset order per partition.
type commits struct {
	cur atomic.Pointer[commitSession] // the current session; nil before the first
	tx  *txns                         // exactly-once mode: marks go to transactions
	// onMark, if set, learns of each partition's progress: see [Options.OnMark].
	onMark func(topic string, partition int32, next int64)
	// onRevoke, if set, learns that a session ended: see [Options.OnRevoke].
	onRevoke func()

	// pending are the records handed to callbacks in any session of the
	// processor and not known to be done, per partition, in offset order:
	// the suspects of a refused write (see isolate.go).
	mu      sync.Mutex
	pending map[topicPartition]*pendingOffsets
}

// pendingOffsets are a partition's pending records, in offset order (see
// commits.pending). A session's [inflight] of the partition points to them,
// so that a record's start and mark do not look the partition up again.
type pendingOffsets struct {
	offs []int64 // guarded by commits.mu
}

// wrap wraps the consumer group NewConsumerGroup returned.
func (c *commits) wrap(cg sarama.ConsumerGroup, err error) (sarama.ConsumerGroup, error) {
	if err != nil {
		return nil, err
	}
	return orderedGroup{ConsumerGroup: cg, c: c}, nil
}

// started registers the record of ctx, which goka hands to a callback. Without a
// session (goka's tester runs no consumer group) it does nothing.
func (c *commits) started(ctx goka.Context) {
	if s := c.cur.Load(); s != nil {
		o := ctx.Offset()
		pl := s.started(string(ctx.Topic()), ctx.Partition(), o)
		if pl == nil {
			return // a session of no commits (never: Setup gives each c)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if n := len(pl.offs); n == 0 || pl.offs[n-1] < o {
			pl.offs = append(pl.offs, o)
		} else if i, found := slices.BinarySearch(pl.offs, o); !found { // a new session reads from before the last
			pl.offs = slices.Insert(pl.offs, i, o)
		}
	}
}

// partition returns the pending records of tp, made at its first record.
func (c *commits) partition(tp topicPartition) *pendingOffsets {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[topicPartition]*pendingOffsets{}
	}
	pl := c.pending[tp]
	if pl == nil {
		pl = new(pendingOffsets)
		c.pending[tp] = pl
	}
	return pl
}

// done forgets the pending records of pl before mark.
func (c *commits) done(pl *pendingOffsets, mark int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(pl.offs) > 0 {
		i, _ := slices.BinarySearch(pl.offs, mark)
		pl.offs = pl.offs[i:]
	}
}

// inflight returns a copy of the pending records.
func (c *commits) inflight() map[topicPartition][]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[topicPartition][]int64, len(c.pending))
	for tp, pl := range c.pending {
		if len(pl.offs) > 0 {
			out[tp] = slices.Clone(pl.offs)
		}
	}
	return out
}

type orderedGroup struct {
	sarama.ConsumerGroup
	c *commits
}

func (g orderedGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, &orderedHandler{h: h, c: g.c})
}

// orderedHandler hands goka, for one session, a session whose MarkOffset keeps
// commits in order.
type orderedHandler struct {
	h sarama.ConsumerGroupHandler
	c *commits
	s *commitSession
}

func (h *orderedHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.s = newCommitSession(s, h.c)
	h.c.cur.Store(h.s)
	if h.c.tx != nil {
		if err := h.c.tx.open(s.Context()); err != nil {
			return err
		}
	}
	return h.h.Setup(h.s)
}

func (h *orderedHandler) ConsumeClaim(_ sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	if h.c.onMark != nil && claim.InitialOffset() >= 0 {
		h.c.onMark(claim.Topic(), claim.Partition(), claim.InitialOffset())
	}
	return h.h.ConsumeClaim(h.s, claim)
}

// Cleanup lets goka stop the session's partitions, then ends the session's
// transaction in exactly-once mode: while the session's generation still
// holds (the group waits for this member before it rebalances).
func (h *orderedHandler) Cleanup(sarama.ConsumerGroupSession) error {
	err := h.h.Cleanup(h.s)
	if h.c.onRevoke != nil {
		h.c.onRevoke()
	}
	if h.c.tx != nil {
		err = errors.Join(err, h.c.tx.finish())
	}
	return err
}

type topicPartition struct {
	topic     string
	partition int32
}

// inflight is a partition's records handed to callbacks and not yet committed.
// With franz-go's producer thousands of a partition's records may be in
// flight; a mark finds its record by binary search and drops the done prefix
// by reslicing (its cost was linear in the records in flight: 20% of a
// counting agent's CPU).
type inflight struct {
	offsets []int64 // in order
	done    []bool  // done[i]: goka marked offsets[i]
	// pending are the partition's records pending in the processor
	// (commits.pending), nil for a session without commits.
	pending *pendingOffsets
}

// commitSession is a consumer group session whose MarkOffset marks only up to
// the first record of the partition that is not done.
type commitSession struct {
	sarama.ConsumerGroupSession

	mu    sync.Mutex
	parts map[topicPartition]*inflight
	// changed is closed, and set to nil, when a partition's first records
	// are done; made by a waiter (awaitFirst) only: a channel made at every
	// mark was an allocation per record.
	changed chan struct{}
	c       *commits
	tx      *txns // exactly-once mode: marks go to the partition's transaction
	// onMark learns of each mark passed on; see [Options.OnMark].
	onMark func(topic string, partition int32, next int64)
}

// newCommitSession returns the commit session of c over s.
func newCommitSession(s sarama.ConsumerGroupSession, c *commits) *commitSession {
	return &commitSession{ConsumerGroupSession: s, parts: map[topicPartition]*inflight{}, c: c, tx: c.tx, onMark: c.onMark}
}

// started registers the record at offset, and returns the partition's
// records pending in the processor (nil for a session without commits).
func (s *commitSession) started(topic string, partition int32, offset int64) *pendingOffsets {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{topic, partition}
	p := s.parts[tp]
	if p == nil {
		p = &inflight{}
		if s.c != nil {
			p.pending = s.c.partition(tp) // lock order: s.mu, then c.mu
		}
		s.parts[tp] = p
	}
	p.offsets = append(p.offsets, offset)
	p.done = append(p.done, false)
	return p.pending
}

// MarkOffset is goka's commit of the record at offset-1: done. The mark passed
// on is the offset after the last of the partition's records that are done with
// all records before them.
func (s *commitSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	s.mu.Lock()
	p := s.parts[topicPartition{topic, partition}]
	if p == nil { // never registered: nothing is known to be done before it
		s.mu.Unlock()
		return
	}
	i, ok := slices.BinarySearch(p.offsets, offset-1)
	if !ok { // not handed to a callback in this session
		s.mu.Unlock()
		return
	}
	p.done[i] = true
	n := 0
	for n < len(p.done) && p.done[n] {
		n++
	}
	if n == 0 {
		s.mu.Unlock()
		return
	}
	mark, pl := p.offsets[n-1]+1, p.pending
	p.offsets, p.done = p.offsets[n:], p.done[n:]
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.mu.Unlock()
	if pl != nil {
		s.c.done(pl, mark)
	}
	if s.onMark != nil {
		s.onMark(topic, partition, mark)
	}
	if s.tx != nil {
		s.tx.marked(topic, partition, mark) // committed with the transaction, never by sarama
		return
	}
	s.ConsumerGroupSession.MarkOffset(topic, partition, mark, metadata)
}

// awaitFirst waits until every record of topic/partition before offset is
// done, or ctx is done.
func (s *commitSession) awaitFirst(ctx context.Context, topic string, partition int32, offset int64) error {
	for {
		s.mu.Lock()
		p := s.parts[topicPartition{topic, partition}]
		first := p == nil || len(p.offsets) == 0 || p.offsets[0] >= offset
		if first {
			s.mu.Unlock()
			return nil
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
