package topology

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/gokax"
)

// timerRun is the timers of an agent during one run of its processor: the
// index of each partition of the current session, the loop partitions' marks,
// and the scheduler that fires wall-clock timers. See DESIGN.md, Timers.
type timerRun struct {
	rt    *agentRuntime
	topic string // the timers topic
	loop  string
	spec  topicSpec // the timers topic, as the input that handles fire records
	// markers keeps a marker for each fired timer until its fire record is
	// done (at-least-once on a broker); without it (exactly-once, or the
	// harness, which never crashes) a fired timer is removed in the same write
	// as its handler's effects.
	markers bool
	// manual is the harness's mode: partitions are created restored and empty
	// on first use, and the harness sends fire records itself (due).
	manual bool

	// On a broker:
	brokers       []string
	cfg           *sarama.Config
	readCommitted bool
	producer      *gokax.Producer

	wake chan struct{} // wakes the scheduler; capacity 1
	wg   sync.WaitGroup

	// send guards the producer: held (read) across each Send, so that no
	// Send follows close. Never held while waiting for mu's holders.
	send struct {
		sync.RWMutex
		closed bool
	}

	mu struct {
		sync.Mutex
		parts   map[int32]*timerPart // the current session's
		marks   map[int32]int64      // loop partition -> offset below which every record is done
		cancel  context.CancelFunc   // the current session's restores
		closed  bool
		retryAt time.Time // after a failed send, the scheduler waits until then
	}
}

func newTimerRun(rt *agentRuntime, spec topicSpec, loop string) *timerRun {
	tr := &timerRun{rt: rt, topic: spec.name, loop: loop, spec: spec, wake: make(chan struct{}, 1)}
	tr.mu.parts = map[int32]*timerPart{}
	tr.mu.marks = map[int32]int64{}
	return tr
}

// part returns the index of partition p, nil if this instance does not own it.
func (tr *timerRun) part(p int32) *timerPart {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tp := tr.mu.parts[p]
	if tp == nil && tr.manual {
		tp = newTimerPart(p)
		close(tp.loaded)
		tr.mu.parts[p] = tp
	}
	return tp
}

// await waits until partition p's index is restored.
func (tr *timerRun) await(ctx context.Context, p int32) error {
	tp := tr.part(p)
	if tp == nil {
		return fmt.Errorf("agent %q: partition %d is not assigned to this instance: %w", tr.rt.name, p, errNoTimerIndex)
	}
	select {
	case <-tp.loaded:
		return tp.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// assign starts a session with partitions: their indexes are restored in the
// background from the timers topic (callbacks of a partition wait for it).
// Called by goka's rebalance callback, after exactly-once mode fenced the
// partitions' previous owners and before goka hands out a record.
func (tr *timerRun) assign(ctx context.Context, partitions []int32) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.mu.cancel != nil {
		tr.mu.cancel()
	}
	if tr.mu.closed {
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	tr.mu.cancel = cancel
	tr.mu.parts = make(map[int32]*timerPart, len(partitions))
	for _, p := range partitions {
		tp := newTimerPart(p)
		tr.mu.parts[p] = tp
		tr.wg.Go(func() { tr.restore(sctx, tp) })
	}
}

// revoke ends the session: its partitions are no longer this instance's.
func (tr *timerRun) revoke() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.mu.cancel != nil {
		tr.mu.cancel()
		tr.mu.cancel = nil
	}
	tr.mu.parts = map[int32]*timerPart{}
}

// restore reads partition tp.p of the timers topic into tp, then fires what
// is due and cleans what is done.
func (tr *timerRun) restore(ctx context.Context, tp *timerPart) {
	start := time.Now()
	sets := map[string]timerSet{}
	var bad int
	err := gokax.ReadPartition(ctx, tr.brokers, tr.cfg, tr.topic, tp.p, tr.readCommitted, func(key string, value []byte, offset int64) {
		s, err := decodeTimerSet(value)
		if err != nil {
			// Not written by sluice: nothing to restore from it. Its key's
			// earlier set is no longer current either.
			if bad++; bad == 1 {
				tr.rt.log.Error("timers topic holds a value that is no timer set; ignoring it", "topic", tr.topic,
					"partition", tp.p, "offset", offset, "key", key, "error", err)
			}
			delete(sets, key)
			return
		}
		if s.empty() {
			delete(sets, key)
			return
		}
		sets[key] = s
	})
	if err != nil {
		if ctx.Err() == nil {
			tr.rt.log.Warn("restoring timers failed", "topic", tr.topic, "partition", tp.p, "error", err)
		}
		tp.fail(fmt.Errorf("agent %q: restore timers of partition %d: %w", tr.rt.name, tp.p, err))
		return
	}
	due := tp.load(sets)
	tr.rt.log.Debug("timers restored", "partition", tp.p, "keys", len(sets), "pending", tp.count(), "in", time.Since(start))
	for _, e := range due {
		tr.fire(tp, e)
	}
	tr.mu.Lock()
	mark, ok := tr.mu.marks[tp.p]
	tr.mu.Unlock()
	if ok {
		tr.clean(tp, mark)
	}
	tr.wakeUp()
}

// marked is gokax's OnMark: every record of topic/p below next is done.
func (tr *timerRun) marked(topic string, p int32, next int64) {
	if topic != tr.loop || !tr.markers {
		return
	}
	tr.mu.Lock()
	if next <= tr.mu.marks[p] {
		tr.mu.Unlock()
		return
	}
	tr.mu.marks[p] = next
	tp := tr.mu.parts[p]
	tr.mu.Unlock()
	if tp != nil {
		tr.clean(tp, next)
	}
}

// clean sends the clean records of tp's markers fired below mark.
func (tr *timerRun) clean(tp *timerPart, mark int64) {
	select {
	case <-tp.loaded:
	default:
		return // restore sends them when it is done
	}
	for _, c := range tp.takeCleans(mark) {
		h := map[string][]byte{
			HeaderTimerOp:     []byte(timerOpClean),
			HeaderTimerName:   []byte(c.name),
			HeaderTimerID:     strconv.AppendUint(nil, c.id, 10),
			HeaderTimerOffset: strconv.AppendInt(nil, c.offset, 10),
		}
		tr.produce(c.key, []byte(c.name), h, func(err error) {
			if err != nil {
				tr.rt.log.Warn("clean record not written; the marker stays until the partition's next restore",
					"key", c.key, "timer", c.name, "error", err)
			}
		})
	}
}

// send writes the fire record of e; if that fails, e is sent again later.
func (tr *timerRun) fire(tp *timerPart, e timerEntry) {
	tr.produce(e.key, []byte(e.st.Name), fireHeaders(e.st), func(err error) {
		if err == nil {
			return
		}
		tr.rt.log.Warn("fire record not written; retrying", "key", e.key, "timer", e.st.Name, "error", err)
		tr.mu.Lock()
		tr.mu.retryAt = time.Now().Add(tr.rt.retryWait(1))
		tr.mu.Unlock()
		tp.unsend(e.key, e.st.Name, e.st.ID)
		tr.wakeUp()
	})
}

// produce writes a loop record unless the run has ended.
func (tr *timerRun) produce(key string, value []byte, h map[string][]byte, done func(error)) {
	tr.send.RLock()
	defer tr.send.RUnlock()
	if tr.send.closed || tr.producer == nil {
		return
	}
	tr.producer.Send(tr.loop, key, value, h, done)
}

// fireHeaders returns the headers of a fire record of st.
func fireHeaders(st storedTimer) map[string][]byte {
	h := map[string][]byte{
		HeaderTimerOp:   []byte(timerOpFire),
		HeaderTimerName: []byte(st.Name),
		HeaderTimerID:   strconv.AppendUint(nil, st.ID, 10),
	}
	if st.Trace != "" {
		h["traceparent"] = []byte(st.Trace)
	}
	return h
}

// Values of [HeaderTimerOp].
const (
	timerOpFire  = "fire"
	timerOpClean = "clean"
)

func (tr *timerRun) wakeUp() {
	select {
	case tr.wake <- struct{}{}:
	default:
	}
}

// schedule fires wall-clock timers as they come due, until ctx is done.
func (tr *timerRun) schedule(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := tr.rt.now()
		tr.mu.Lock()
		parts := make([]*timerPart, 0, len(tr.mu.parts))
		for _, tp := range tr.mu.parts {
			parts = append(parts, tp)
		}
		retryAt := tr.mu.retryAt
		tr.mu.Unlock()
		next, pending := int64(0), 0
		for _, tp := range parts {
			select {
			case <-tp.loaded:
			default:
				continue
			}
			if !now.Before(retryAt) {
				for _, e := range tp.dueWall(unixNanos(now)) {
					tr.fire(tp, e)
				}
			}
			if at, ok := tp.nextWall(); ok && (next == 0 || at < next) {
				next = at
			}
			pending += tp.count()
		}
		tr.rt.metrics.agent.TimersPending(pending)
		wait := time.Hour
		if next != 0 {
			wait = max(unixTime(next).Sub(tr.rt.now()), 0)
		}
		if d := retryAt.Sub(now); d > wait {
			wait = d
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-tr.wake:
		case <-t.C:
		}
	}
}

// close stops sending and waits for the restores; the caller closes the
// producer afterwards.
func (tr *timerRun) close() {
	tr.mu.Lock()
	tr.mu.closed = true
	if tr.mu.cancel != nil {
		tr.mu.cancel()
	}
	tr.mu.Unlock()
	tr.wg.Wait()
	tr.send.Lock()
	tr.send.closed = true
	tr.send.Unlock()
}

// next returns the time of the earliest wall-clock timer not sent.
func (tr *timerRun) next() (time.Time, bool) {
	tr.mu.Lock()
	parts := make([]*timerPart, 0, len(tr.mu.parts))
	for _, tp := range tr.mu.parts {
		parts = append(parts, tp)
	}
	tr.mu.Unlock()
	var next int64
	for _, tp := range parts {
		if at, ok := tp.nextWall(); ok && (next == 0 || at < next) {
			next = at
		}
	}
	return unixTime(next), next != 0
}

// due returns, for the harness, the fire records of the wall-clock timers
// due at now in the order of their times, marked sent.
func (tr *timerRun) due(now time.Time) []timerEntry {
	tr.mu.Lock()
	parts := make([]*timerPart, 0, len(tr.mu.parts))
	for _, tp := range tr.mu.parts {
		parts = append(parts, tp)
	}
	tr.mu.Unlock()
	var due []timerEntry
	for _, tp := range parts {
		due = append(due, tp.dueWall(unixNanos(now))...)
	}
	slices.SortStableFunc(due, func(a, b timerEntry) int {
		switch {
		case a.st.At < b.st.At:
			return -1
		case a.st.At > b.st.At:
			return 1
		}
		return 0
	})
	return due
}
