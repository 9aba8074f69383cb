package gokax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// A broker refuses a produce batch whole: when it refuses one record for
// good (INVALID_RECORD, MESSAGE_TOO_LARGE, a topic policy), every record of
// the batch fails with the same error, and nothing tells which one it was.
// A processor's producer batches the writes of whatever records are in
// flight, so at full speed the refused record failed its neighbours with it,
// the processor restarted, and its replay batched them together again: only
// batching luck got past it (TestFailedWriteIsNotCommittedPast failed 2 runs
// in 4 without the race detector, whose slowness sent one record per batch).
//
// So a refusal makes suspects of every record in flight when it came, in any
// session of the processor (the refused batch's records are among them: none
// of them can be done), trips
// the producer's gate like any failed write (nothing after it is written,
// and the processor's replay keeps the partition's order), and the
// processor's next run handles each suspect in isolation: once every record
// before it in its partition is done, its writes go one per produce request
// through a producer of their own, and its callback returns only when the
// broker answered them. A refusal then belongs to that record alone:
// [Msg.Settle] reports it as [ErrRefused], and the write counts as done for
// goka, so that the caller can dead-letter the record and the partition goes
// on. Any other failure of an isolated write fails the processor as usual.

// ErrRefused is returned by [Msg.Settle] when the broker refused a write of
// a record handled in isolation for good: retrying cannot change it, and the
// record's other writes were not refused.
var ErrRefused = errors.New("gokax: write refused by the broker")

// ErrWriteFailed is returned by [Msg.Settle] when a write of a record handled
// in isolation failed otherwise (the broker went away): the record must not
// be committed, and the processor stops.
var ErrWriteFailed = errors.New("gokax: write failed")

// isolateHeader marks the writes of a record handled in isolation with the
// record's ID in its processor's [isolation]; the producer removes it.
const isolateHeader = "sluice-isolated"

// recordRefused reports whether err is a broker's refusal of a record that
// no retry changes: the refusals that a record, not the partition or the
// client, earns.
func recordRefused(err error) bool {
	var k sarama.KError
	if !errors.As(err, &k) {
		return false
	}
	switch k {
	case sarama.ErrInvalidRecord, sarama.ErrMessageSizeTooLarge, sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrInvalidTimestamp, sarama.ErrPolicyViolation, sarama.ErrInvalidMessage:
		return true
	}
	return false
}

// Suspects are the input records one of whose batches the broker refused:
// the next run of their processor handles each in isolation. The zero value
// is empty and ready; safe for concurrent use. Keep one per agent across the
// runs of its processors ([Options.Suspects]).
type Suspects struct {
	n  atomic.Int64 // len of m's lists, read without mu on every record
	mu sync.Mutex
	m  map[topicPartition][]int64
}

func (s *Suspects) add(in map[topicPartition][]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[topicPartition][]int64{}
	}
	for tp, offs := range in {
		for _, o := range offs {
			if !slices.Contains(s.m[tp], o) {
				s.m[tp] = append(s.m[tp], o)
				s.n.Add(1)
			}
		}
	}
}

// take reports whether the record at offset is a suspect, and forgets it.
// Only that record: the run a refusal stopped handles records after the
// suspects before it stops, and the next run must still isolate them. A
// suspect of a partition another instance went on with stays, unseen (a
// handful of offsets per refusal).
func (s *Suspects) take(topic string, partition int32, offset int64) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{topic, partition}
	i := slices.Index(s.m[tp], offset)
	if i < 0 {
		return false
	}
	s.m[tp] = slices.Delete(s.m[tp], i, i+1)
	if len(s.m[tp]) == 0 {
		delete(s.m, tp)
	}
	s.n.Add(-1)
	return true
}

// Len returns the number of suspects.
func (s *Suspects) Len() int { return int(s.n.Load()) }

// isolation is the isolated records of one processor run, by ID, which the
// producer finds from a write's isolateHeader.
type isolation struct {
	mu      sync.Mutex
	next    int
	records map[string]*isolated
}

func (is *isolation) start() *isolated {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.next++
	r := &isolated{is: is, id: strconv.Itoa(is.next)}
	r.st.changed = make(chan struct{})
	if is.records == nil {
		is.records = map[string]*isolated{}
	}
	is.records[r.id] = r
	return r
}

func (is *isolation) get(id string) *isolated {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.records[id]
}

// isolated is a record handled in isolation: its writes in flight and their
// failures.
type isolated struct {
	is *isolation
	id string
	st struct {
		sync.Mutex
		inFlight int
		errs     []error
		changed  chan struct{}
	}
}

func (r *isolated) sent() {
	r.st.Lock()
	defer r.st.Unlock()
	r.st.inFlight++
}

func (r *isolated) done(err error) {
	r.st.Lock()
	defer r.st.Unlock()
	r.st.inFlight--
	if err != nil {
		r.st.errs = append(r.st.errs, err)
	}
	close(r.st.changed)
	r.st.changed = make(chan struct{})
}

// settle waits until every write sent so far was answered, and returns the
// failures since the last call. Refusals wrap ErrRefused, other failures
// ErrWriteFailed. A ctx done first is an ErrWriteFailed.
func (r *isolated) settle(ctx context.Context) error {
	for {
		r.st.Lock()
		n, changed := r.st.inFlight, r.st.changed
		if n == 0 {
			errs := r.st.errs
			r.st.errs = nil
			r.st.Unlock()
			return errors.Join(errs...)
		}
		r.st.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: stopped waiting for the answer to an isolated write: %w", ErrWriteFailed, ctx.Err())
		}
	}
}

func (r *isolated) end() {
	r.is.mu.Lock()
	defer r.is.mu.Unlock()
	delete(r.is.records, r.id)
}

// isolate starts the handling of the record of ctx in isolation if it is a
// suspect, and returns nil otherwise. It waits until every record before it
// in its partition is done. If the session ends first, the record is
// finished with an error (it is not committed, and read again) and
// isolate returns nil with ok false.
func (pr *procIsolation) isolate(ctx goka.Context) (r *isolated, ok bool) {
	if pr == nil {
		return nil, true
	}
	topic, part, off := string(ctx.Topic()), ctx.Partition(), ctx.Offset()
	if !pr.suspects.take(topic, part, off) {
		return nil, true
	}
	if s := pr.commits.cur.Load(); s != nil {
		if err := s.awaitFirst(ctx.Context(), topic, part, off); err != nil {
			pr.suspects.add(map[topicPartition][]int64{{topic, part}: {off}})
			ctx.DeferCommit()(fmt.Errorf("%s/%d@%d: stopped waiting to handle it in isolation: %w", topic, part, off, err))
			return nil, false
		}
	}
	pr.log.Debug("record handled in isolation", "topic", topic, "partition", part, "offset", off)
	return pr.isolation.start(), true
}

// procIsolation is what a processor's callbacks and producer share to
// handle suspects in isolation.
type procIsolation struct {
	suspects  *Suspects // never nil
	commits   *commits
	isolation isolation
	log       *slog.Logger
	once      sync.Once // the first refusal
}

// refused makes suspects of every record in flight: a write of one of them
// was refused in a batch with others. Only the first refusal of a processor
// counts: it trips the producer's gate, so the batches of every later one
// were sent before it, by records in flight then.
func (pr *procIsolation) refused(err error) {
	if pr == nil {
		return
	}
	pr.once.Do(func() {
		in := pr.commits.inflight()
		pr.suspects.add(in)
		n := 0
		for _, offs := range in {
			n += len(offs)
		}
		pr.log.Warn("a write was refused for good; the processor stops, and the next writes the records in flight one by one so that only the refused record is dead-lettered",
			"error", err, "records", n, "suspects", fmt.Sprint(in))
	})
}
