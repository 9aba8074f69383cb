package gokax

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txns is the transaction of one processor: begun when a session starts,
// committed every interval or every so many records and when the session
// ends (aborted instead if a record is not done or something failed).
// Safe for concurrent use.
type txns struct {
	group    string
	id       string
	interval time.Duration
	records  int
	log      *slog.Logger
	cl       *kgo.Client // the processor's, set when it is built
	// member returns the group member id and generation offsets are
	// committed with; nil means the client's (tests give a stale one).
	member func() (string, int32)

	// gate is held shared while a record is handled and exclusively while
	// the transaction commits, so that a commit never splits a record.
	gate sync.RWMutex
	kick chan struct{} // a commit is due by count

	mu       sync.Mutex
	changed  chan struct{}            // closed and replaced when a mark moves or something fails
	started  map[topicPartition]int64 // per input partition, the last offset handed to a callback
	next     map[topicPartition]int64 // per input partition, the next offset to read (all before it done)
	dirty    map[topicPartition]bool  // marks that moved in the open transaction
	count    int                      // records in the open transaction
	since    time.Time                // when it began
	wrote    bool                     // a write went into it
	inTxn    bool                     // the client is in a transaction
	err      error                    // the first failure: the transaction must abort
	storages map[int32]*txnStorage    // the group table's partitions
	writing  sync.WaitGroup           // the write-through of the last committed transaction
	stop     chan struct{}            // the session's committer
	done     chan struct{}
}

func newTxns(group string, eo ExactlyOnce, log *slog.Logger) *txns {
	instance := eo.Instance
	if instance == "" {
		instance = randomInstance()
	}
	t := &txns{
		group: group, id: TransactionalID(group, instance), log: log,
		interval: eo.CommitInterval, records: eo.CommitRecords,
		kick: make(chan struct{}, 1), changed: make(chan struct{}),
		started: map[topicPartition]int64{}, next: map[topicPartition]int64{}, dirty: map[topicPartition]bool{},
		storages: map[int32]*txnStorage{},
	}
	if t.interval <= 0 {
		t.interval = DefaultCommitInterval
	}
	if t.records <= 0 {
		t.records = DefaultCommitRecords
	}
	return t
}

// kgoOpts returns the options of the processor's client for t.
func (t *txns) kgoOpts() []kgo.Opt {
	return []kgo.Opt{kgo.TransactionalID(t.id), kgo.TransactionTimeout(TransactionTimeout)}
}

// changedLocked wakes whoever waits for marks.
func (t *txns) changedLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// fail records the first failure: the open transaction aborts, and no
// record is handled any more.
func (t *txns) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
	t.changedLocked()
}

func (t *txns) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// open begins a session's transaction. Getting the producer id fences the
// instance's predecessor and aborts the transaction it left open, which is
// why this runs before goka recovers tables (they read committed records,
// and an open transaction would hold them back).
func (t *txns) open(ctx context.Context) error {
	if _, _, err := t.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("transactional producer %q: %w: %w", t.id, ErrTxn, err)
	}
	t.mu.Lock()
	clear(t.started)
	clear(t.next)
	clear(t.dirty)
	t.count, t.wrote, t.since, t.err = 0, false, time.Now(), nil
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	stop, done := t.stop, t.done
	err := t.beginLocked()
	t.mu.Unlock()
	if err != nil {
		close(done)
		return err
	}
	go t.committer(stop, done)
	return nil
}

// beginLocked begins a transaction unless one is open; mu is held.
func (t *txns) beginLocked() error {
	if t.inTxn {
		return nil
	}
	if err := t.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("transactional producer %q: begin: %w: %w", t.id, ErrTxn, err)
	}
	t.inTxn = true
	return nil
}

// handle runs f, the callback of the record of ctx, inside the transaction
// (at-least-once when t is nil). If the transaction failed, the record is
// not handled, its offset is not committed, and the processor stops; unless
// the session is ending (a rebalance, or a stop), which is no failure: the
// record is left unhandled and finished without an error, and the open
// transaction aborts when the session closes, so the record and those
// before it since the last commit are read again by the partition's next
// owner.
func (t *txns) handle(ctx goka.Context, f func()) {
	if t == nil {
		f()
		return
	}
	t.gate.RLock()
	if err := t.failure(); err != nil {
		t.gate.RUnlock()
		if ctx.Context().Err() != nil {
			err = nil // the session ends: see above
		}
		ctx.DeferCommit()(err)
		return
	}
	t.mu.Lock()
	t.started[topicPartition{string(ctx.Topic()), ctx.Partition()}] = ctx.Offset()
	t.count++
	due := t.count >= t.records
	t.mu.Unlock()
	f()
	t.gate.RUnlock()
	if due {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// marked is goka's commit of every record of topic/p before offset.
func (t *txns) marked(topic string, p int32, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := topicPartition{topic, p}
	t.next[tp] = offset
	t.dirty[tp] = true
	t.changedLocked()
}

// wroteOne records that a write went into the open transaction.
func (t *txns) wroteOne() {
	t.mu.Lock()
	t.wrote = true
	t.mu.Unlock()
}

// finish ends the session's transaction, once goka stopped handling its
// records: committed if every record handed to a callback is done and
// nothing failed, aborted otherwise (a failed commit, too: the group's
// generation ended, the records go to the partitions' next owners). An
// aborted transaction is the designed outcome of a failure, which the
// processor reports itself; the next session begins a new one.
func (t *txns) finish() error {
	t.mu.Lock()
	stop, done := t.stop, t.done
	t.stop, t.done = nil, nil
	t.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	t.gate.Lock()
	defer t.gate.Unlock()
	err := t.failure()
	if err == nil {
		if err = t.commitLocked(false /* wait */); err == nil {
			return nil
		}
	}
	t.abortLocked(err)
	return nil
}
