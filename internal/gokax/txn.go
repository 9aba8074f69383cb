package gokax

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ExactlyOnce configures a [Processor] to process exactly once with Kafka
// transactions, KIP-447 style: one transactional producer per processor
// (its franz-go client, see [kproc]), whatever the number of partitions.
//
// Every write a record causes (the changelog record of its state, its
// emits, its dead letter) goes into the processor's open transaction, and
// the input offsets of the records done go into the same transaction
// (TxnOffsetCommit for the group, with the group's generation and member
// id), so outputs, changelog and offsets become visible together or not at
// all. A member that lost its partitions (a zombie: its session expired,
// the partitions moved) cannot commit them any more: the group coordinator
// refuses its offsets for the stale generation, and its transaction aborts.
// goka's own offset commits are withheld. The table's local store receives
// a transaction's writes only after the transaction committed (see
// [txnStorage]), so it never holds aborted state. Every consumer reads
// committed records only, and the group's offsets are read stable (after
// any transaction that holds offsets for them ended).
//
// The transactional.id, "sluice-GROUP-INSTANCE", is stable across restarts
// of an instance: the restarted instance fences its predecessor and aborts
// the transaction it left open at once. One that never comes back leaves
// its open transaction to the broker, which aborts it after
// [TransactionTimeout]; until then read-committed readers of the partitions
// it wrote wait.
type ExactlyOnce struct {
	// CommitInterval is the longest the transaction stays open with
	// records in it; 0 means [DefaultCommitInterval].
	CommitInterval time.Duration
	// CommitRecords commits the transaction once it holds that many input
	// records; 0 means [DefaultCommitRecords].
	CommitRecords int
	// Instance names this instance in its transactional.id; "" picks a
	// random one (a restart then cannot abort its predecessor's open
	// transaction: see above).
	Instance string
}

// Defaults of [ExactlyOnce]: see BenchmarkExactlyOnce.
const (
	DefaultCommitInterval = 100 * time.Millisecond
	DefaultCommitRecords  = 10000
)

// TransactionTimeout is how long the broker keeps a transaction open before
// it aborts it: the rebalance timeout, so that a member whose transaction
// outlives it has lost its partitions anyway, and a crashed instance that
// does not return holds read-committed readers back at most that long.
const TransactionTimeout = DefaultRebalanceTimeout

// ErrTxn is wrapped by every failure of a transaction: the processor stops,
// the open transaction is aborted, and the records since the last commit are
// processed again.
var ErrTxn = errors.New("gokax: transaction failed")

// TransactionalID returns the transactional.id of group's producer on
// instance.
func TransactionalID(group, instance string) string {
	return "sluice-" + group + "-" + instance
}

// randomInstance returns a random instance name.
func randomInstance() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

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

// txnConfig returns a clone of cfg for read-committed consumers.
func txnConfig(cfg *sarama.Config) *sarama.Config {
	c := clone(cfg)
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	return c
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

// wrote records that a write went into the open transaction.
func (t *txns) wroteOne() {
	t.mu.Lock()
	t.wrote = true
	t.mu.Unlock()
}

// committer commits the transaction when it is due, until stop.
func (t *txns) committer(stop, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(max(t.interval/2, time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		case <-t.kick:
		}
		if !t.due() {
			continue
		}
		t.gate.Lock()
		err := t.commitLocked(true /* wait */)
		t.gate.Unlock()
		if err != nil {
			t.fail(err) // the next record stops the processor
		}
	}
}

// due reports whether the open transaction has records and is older than
// the commit interval or holds the most records it may.
func (t *txns) due() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err == nil && t.count > 0 && (t.count >= t.records || time.Since(t.since) >= t.interval)
}

// settled waits until every record handed to a callback is done (its writes
// acknowledged and goka's mark in); without wait, it reports an error if
// one is not. gate is held exclusively: no record is being handled.
func (t *txns) settled(ctx context.Context, wait bool) error {
	if err := t.cl.Flush(ctx); err != nil {
		return fmt.Errorf("transactional producer %q: flush: %w: %w", t.id, ErrTxn, err)
	}
	for {
		t.mu.Lock()
		err, ch := t.err, t.changed
		ok := true
		for tp, off := range t.started {
			if t.next[tp] <= off {
				ok = false
				break
			}
		}
		t.mu.Unlock()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		case !wait:
			return fmt.Errorf("transactional producer %q: records in flight at the end of the session: %w", t.id, ErrTxn)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("transactional producer %q: stopped waiting for records: %w: %w", t.id, ErrTxn, ctx.Err())
		}
	}
}

// commitLocked commits the open transaction with the offsets of its records
// and begins the next; gate is held exclusively. It first waits (with wait)
// until every record handed to a callback is done. The table's store
// receives the transaction's writes after the commit.
func (t *txns) commitLocked(wait bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), TransactionTimeout)
	defer cancel()
	if err := t.settled(ctx, wait); err != nil {
		return err
	}
	t.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for tp := range t.dirty {
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: t.next[tp]}
	}
	wrote := t.wrote
	t.mu.Unlock()
	ended := true
	switch {
	case wrote:
		if len(offsets) > 0 {
			if err := t.commitOffsets(ctx, offsets); err != nil {
				return err
			}
		}
		if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("transactional producer %q: commit: %w: %w", t.id, ErrTxn, err)
		}
	case len(offsets) > 0:
		// Records that wrote nothing: a transaction with offsets alone
		// would need an EndTxn the client does not send for a transaction
		// it wrote nothing in. The group's offset is committed as
		// at-least-once commits it; every earlier transaction has ended,
		// and the records it covers have no effects to repeat.
		if err := t.commitPlain(ctx, offsets); err != nil {
			return err
		}
		if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("transactional producer %q: end: %w: %w", t.id, ErrTxn, err)
		}
	default:
		ended = false // nothing happened: the transaction stays open
	}
	t.mu.Lock()
	if ended {
		t.inTxn = false
	}
	clear(t.dirty)
	t.count, t.wrote, t.since = 0, false, time.Now()
	storages := slices.Collect(maps.Values(t.storages))
	t.mu.Unlock()
	t.writeCommitted(storages)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.beginLocked()
}

// writeCommitted starts the write-through of the committed transaction's
// writes to the stores of the partitions it wrote (see [txnStorage]), in
// parallel (each store syncs its own write-ahead log), after the previous
// one finished; a failure fails the transaction then open.
func (t *txns) writeCommitted(storages []*txnStorage) {
	t.writing.Wait()
	sem := make(chan struct{}, 16)
	for _, s := range storages {
		if write := s.committed(); write != nil {
			t.writing.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := write(); err != nil {
					t.fail(fmt.Errorf("transactional producer %q: write committed state: %w: %w", t.id, ErrTxn, err))
				}
			})
		}
	}
}

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

// abortLocked aborts the open transaction and drops its state writes; gate
// is held exclusively.
func (t *txns) abortLocked(reason error) {
	ctx, cancel := context.WithTimeout(context.Background(), TransactionTimeout)
	defer cancel()
	t.mu.Lock()
	for _, s := range t.storages {
		s.aborted()
	}
	inTxn := t.inTxn
	t.inTxn = false
	clear(t.dirty)
	t.count, t.wrote = 0, false
	t.mu.Unlock()
	if !inTxn {
		return
	}
	if err := t.cl.AbortBufferedRecords(ctx); err != nil {
		t.log.Warn("abort buffered records", "id", t.id, "error", err)
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		// Fenced or the broker is gone: the broker aborts it, at the latest
		// after the transaction timeout.
		t.log.Warn("abort transaction", "id", t.id, "error", err)
	}
	t.log.Info("transaction aborted", "id", t.id, "reason", reason)
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

// WithExactlyOnce returns o in exactly-once mode with the default commit
// interval and size if on, and o unchanged otherwise.
func (o Options) WithExactlyOnce(on bool) Options {
	if on {
		o.ExactlyOnce = &ExactlyOnce{}
	}
	return o
}
