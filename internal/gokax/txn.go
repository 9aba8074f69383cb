package gokax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// ExactlyOnce configures a [Processor] to process exactly once with Kafka
// transactions (the EOS-v1 pattern; sarama cannot do KIP-447).
//
// Each input partition p the instance owns gets its own transactional producer,
// transactional.id "sluice-GROUP-p", stable across restarts and instances:
// whoever takes p over fences the previous owner and aborts its open
// transaction. Every write a record causes (the changelog record of its state,
// its emits, its dead letter) goes through that producer, and the input offsets
// go into the same transaction (TxnOffsetCommit for the group), so outputs,
// changelog and offsets become visible together or not at all. goka's own
// offset commits are withheld. The table's local store receives a
// transaction's writes only after the transaction committed (see
// [txnStorage]), so it never holds aborted state. Every consumer reads
// committed records only.
type ExactlyOnce struct {
	// CommitInterval is the longest a partition's transaction stays open with
	// records in it; 0 means [DefaultCommitInterval].
	CommitInterval time.Duration
	// CommitRecords commits a partition's transaction once it holds that many
	// input records; 0 means [DefaultCommitRecords].
	CommitRecords int
}

// Defaults of [ExactlyOnce]: see BenchmarkExactlyOnce.
const (
	DefaultCommitInterval = 100 * time.Millisecond
	DefaultCommitRecords  = 1000
)

// ErrTxn is wrapped by every failure of a transaction: the processor stops,
// the open transaction is aborted, and the records since the last commit are
// processed again.
var ErrTxn = errors.New("gokax: transaction failed")

// txnHeader names the input partition whose transaction a write belongs to.
// [Msg] adds it to every write of a record in exactly-once mode and the
// transactional producer removes it before the write is sent.
const txnHeader = "sluice-txn-partition"

// TransactionalID returns the transactional.id of group's producer for input
// partition p.
func TransactionalID(group string, p int32) string {
	return "sluice-" + group + "-" + strconv.Itoa(int(p))
}

// txns holds the transactions of one processor's current consumer-group
// session, one per input partition. Safe for concurrent use.
type txns struct {
	group    string
	brokers  []string
	cfg      *sarama.Config // transactional, without an ID
	interval time.Duration
	records  int
	log      *slog.Logger

	mu        sync.Mutex
	parts     map[int32]*txnPart
	committed map[topicPartition]int64 // the group's offsets, read after fencing
	stop      chan struct{}            // closes the ticker of the session
	done      chan struct{}

	ticked func() // tests: called by the ticker when it fired, before it takes mu
}

func newTxns(group string, brokers []string, cfg *sarama.Config, eo ExactlyOnce, log *slog.Logger) *txns {
	t := &txns{
		group: group, brokers: brokers, cfg: txnConfig(cfg), log: log,
		interval: eo.CommitInterval, records: eo.CommitRecords,
		parts: map[int32]*txnPart{},
	}
	if t.interval <= 0 {
		t.interval = DefaultCommitInterval
	}
	if t.records <= 0 {
		t.records = DefaultCommitRecords
	}
	return t
}

// txnConfig returns a clone of cfg for transactional producers and
// read-committed consumers.
func txnConfig(cfg *sarama.Config) *sarama.Config {
	c := clone(cfg)
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewCustomHashPartitioner(Hasher)
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	return c
}

// part returns the transaction of input partition p, nil if the session does
// not own p.
func (t *txns) part(p int32) *txnPart {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parts[p]
}

// open starts the transactions of a new session's partitions. Creating a
// producer fences the previous owner of its transactional.id and aborts its
// open transaction, which is why this runs before goka recovers tables (they
// read committed records, and an open transaction would hold them back).
func (t *txns) open(ctx context.Context, claims map[string][]int32) error {
	seen := map[int32]bool{}
	var partitions []int32
	for _, ps := range claims {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				partitions = append(partitions, p)
			}
		}
	}
	// Built without t.mu: the producers' goroutines and the network calls
	// below need no lock, and nothing else sees the parts until they are in.
	parts := map[int32]*txnPart{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range partitions {
		wg.Go(func() {
			tp, err := newTxnPart(t, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			parts[p] = tp
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return errors.Join(err, finishParts(parts))
	}
	committed, err := t.fetchOffsets(claims)
	if err != nil {
		return errors.Join(err, finishParts(parts))
	}
	stop, done := make(chan struct{}), make(chan struct{})
	t.mu.Lock()
	t.parts, t.committed, t.stop, t.done = parts, committed, stop, done
	t.mu.Unlock()
	go t.tick(ctx, stop, done)
	return nil
}

// handle runs f, the callback of the record of ctx, inside the transaction of
// the record's partition (at-least-once when t is nil). If the partition's
// transaction failed, or the commit due before the record fails, the record
// is not handled, its offset is not committed, and the processor stops;
// unless the session is ending (a rebalance, or a stop), which is no failure:
// the record is left unhandled and finished without an error, and the
// partition's transaction, failed, aborts when the session closes, so the
// record and those before it since the last commit are read again by the
// partition's next owner.
func (t *txns) handle(ctx goka.Context, f func()) {
	if t == nil {
		f()
		return
	}
	tp := t.part(ctx.Partition())
	if tp == nil {
		ctx.DeferCommit()(fmt.Errorf("record of partition %d, which has no transaction: %w", ctx.Partition(), ErrTxn))
		return
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if err := tp.before(ctx.Context(), string(ctx.Topic()), ctx.Offset()); err != nil {
		if ctx.Context().Err() != nil {
			err = nil // the session ends: see above
		}
		ctx.DeferCommit()(err)
		return
	}
	f()
}

// marked is goka's commit of every record of topic/p before offset.
func (t *txns) marked(topic string, p int32, offset int64) {
	if tp := t.part(p); tp != nil {
		tp.marked(topic, offset)
	}
}

// fetchOffsets returns the group's committed offsets of claims. sarama read
// them before the session's producers fenced the previous owners, which may
// have committed a transaction in between; these are final.
func (t *txns) fetchOffsets(claims map[string][]int32) (map[topicPartition]int64, error) {
	adm, err := newClusterAdmin(t.brokers, t.cfg)
	if err != nil {
		return nil, fmt.Errorf("group %q: committed offsets: %w: %w", t.group, ErrTxn, err)
	}
	defer adm.Close()
	resp, err := adm.ListConsumerGroupOffsets(t.group, claims)
	if err == nil && resp.Err != sarama.ErrNoError {
		err = resp.Err
	}
	if errors.Is(err, sarama.ErrGroupIDNotFound) { // kfake, before the first commit
		return map[topicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("group %q: committed offsets: %w: %w", t.group, ErrTxn, err)
	}
	out := map[topicPartition]int64{}
	for topic, ps := range claims {
		for _, p := range ps {
			if b := resp.GetBlock(topic, p); b != nil && b.Err == sarama.ErrNoError {
				out[topicPartition{topic, p}] = b.Offset
			}
		}
	}
	return out, nil
}

// checkClaim fails the claim's partition if the claim starts elsewhere than
// the offset committed when the session fenced the previous owner: that owner
// committed a transaction after sarama read the offsets, and the claim would
// process its records again. The partition's first record then stops the
// processor, and the next session starts from the right offset.
func (t *txns) checkClaim(topic string, p int32, initial int64) {
	t.mu.Lock()
	committed, ok := t.committed[topicPartition{topic, p}]
	tp := t.parts[p]
	t.mu.Unlock()
	if !ok || committed < 0 || committed == initial || tp == nil {
		return
	}
	tp.fail(fmt.Errorf("%s/%d: the group's offset moved from %d to %d while this instance took the partition over (the previous owner committed before it was fenced): %w",
		topic, p, initial, committed, ErrTxn))
}

// tick commits transactions that are due while their partitions are idle; a
// busy partition commits between two records (see [txnPart.before]).
func (t *txns) tick(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(max(t.interval/2, time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if t.ticked != nil {
			t.ticked()
		}
		t.mu.Lock()
		parts := make([]*txnPart, 0, len(t.parts))
		for _, tp := range t.parts {
			parts = append(parts, tp)
		}
		t.mu.Unlock()
		for _, tp := range parts {
			if !tp.mu.TryLock() {
				continue // a record is being handled; it commits when due
			}
			if tp.due() {
				if err := tp.commitLocked(ctx, true /* wait */); err != nil {
					tp.fail(err) // the partition's next record stops the processor
				}
			}
			tp.mu.Unlock()
		}
	}
}

// close ends the session: each partition's transaction is committed if every
// record of it is done, and aborted otherwise; then the producers close.
//
// It holds t.mu only to take the session's ticker and partitions out: the
// ticker takes t.mu on every tick, so waiting for it to exit with t.mu held
// deadlocks when it has just fired (TestTxnCloseWhileTickFires), and a
// partition's transaction is finished under its own lock, which a callback's
// write holds while it takes t.mu (see [txns.handle]).
func (t *txns) close() error {
	t.mu.Lock()
	stop, done, parts := t.stop, t.done, t.parts
	t.stop, t.done, t.parts = nil, nil, map[int32]*txnPart{}
	t.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	return finishParts(parts)
}

// finishParts ends the transactions of parts (see [txnPart.finish]).
func finishParts(parts map[int32]*txnPart) error {
	var errs []error
	for _, tp := range parts {
		errs = append(errs, tp.finish())
	}
	return errors.Join(errs...)
}

// txnPart is the transaction of one input partition.
type txnPart struct {
	t    *txns
	p    int32
	id   string
	prod sarama.AsyncProducer
	read sync.WaitGroup // the goroutine reading the producer's results

	// mu is held while a record of the partition is handled and while its
	// transaction commits, so that a commit never splits a record.
	mu sync.Mutex
	// records and since describe the open transaction; guarded by mu.
	records int
	since   time.Time
	storage *txnStorage // the partition's table, if the group has one; guarded by mu

	// st is what the producer's and goka's goroutines update.
	st struct {
		sync.Mutex
		changed chan struct{}    // closed and replaced on every change
		started map[string]int64 // per input topic, the last offset handed to a callback
		marked  map[string]int64 // per input topic, the next offset to read (all before it done)
		dirty   map[string]bool  // topics whose mark moved in the open transaction
		inHand  int              // writes sent and not yet acknowledged
		err     error            // the first failure; the transaction must abort
		closed  bool
	}
}

func newTxnPart(t *txns, p int32) (*txnPart, error) {
	id := TransactionalID(t.group, p)
	cfg := clone(t.cfg)
	cfg.Producer.Transaction.ID = id
	cfg.ClientID = id
	prod, err := newAsyncProducer(t.brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("group %q: partition %d: transactional producer %q: %w: %w", t.group, p, id, ErrTxn, err)
	}
	tp := &txnPart{t: t, p: p, id: id, prod: prod, since: time.Now()}
	tp.st.changed = make(chan struct{})
	tp.st.started, tp.st.marked, tp.st.dirty = map[string]int64{}, map[string]int64{}, map[string]bool{}
	tp.read.Add(2)
	go tp.successes()
	go tp.errors()
	if err := prod.BeginTxn(); err != nil {
		return nil, errors.Join(fmt.Errorf("transactional producer %q: begin: %w: %w", id, ErrTxn, err), tp.closeProducer())
	}
	return tp, nil
}

// changedLocked wakes whoever waits for the partition's records to be done.
func (tp *txnPart) changedLocked() {
	close(tp.st.changed)
	tp.st.changed = make(chan struct{})
}

func (tp *txnPart) fail(err error) {
	tp.st.Lock()
	defer tp.st.Unlock()
	if tp.st.err == nil {
		tp.st.err = err
	}
	tp.changedLocked()
}

func (tp *txnPart) failure() error {
	tp.st.Lock()
	defer tp.st.Unlock()
	return tp.st.err
}

// before is called with mu held before a record of the partition is handed to
// its callback: it commits the open transaction if it is due, and returns the
// partition's failure, if any (the record must then not be handled).
func (tp *txnPart) before(ctx context.Context, topic string, offset int64) error {
	if err := tp.failure(); err != nil {
		return err
	}
	if tp.records >= tp.t.records || tp.due() {
		if err := tp.commitLocked(ctx, true /* wait */); err != nil {
			tp.fail(err)
			return err
		}
	}
	tp.st.Lock()
	tp.st.started[topic] = offset
	tp.st.Unlock()
	tp.records++
	return nil
}

// due reports whether the open transaction has records and is older than the
// commit interval; mu is held.
func (tp *txnPart) due() bool {
	return tp.records > 0 && time.Since(tp.since) >= tp.t.interval
}

// marked is goka's commit of every record of topic before offset.
func (tp *txnPart) marked(topic string, offset int64) {
	tp.st.Lock()
	defer tp.st.Unlock()
	tp.st.marked[topic] = offset
	tp.st.dirty[topic] = true
	tp.changedLocked()
}

// settled reports whether every record handed to a callback is done, and the
// failure if one happened.
func (tp *txnPart) settled() (bool, <-chan struct{}, error) {
	tp.st.Lock()
	defer tp.st.Unlock()
	if tp.st.err != nil {
		return true, nil, tp.st.err
	}
	for topic, off := range tp.st.started {
		if tp.st.marked[topic] <= off {
			return false, tp.st.changed, nil
		}
	}
	return tp.st.inHand == 0, tp.st.changed, nil
}

// commitLocked commits the open transaction with the offsets of its records
// and begins the next; mu is held, so no record is being handled. With wait,
// it first waits until every record handed to a callback is done (its writes
// acknowledged and goka's mark in); without, it aborts if one is not. The
// table's store receives the transaction's writes after the commit; after an
// abort they are dropped.
func (tp *txnPart) commitLocked(ctx context.Context, wait bool) error {
	for {
		ok, changed, err := tp.settled()
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if !wait {
			return fmt.Errorf("transactional producer %q: records in flight at close: %w", tp.id, ErrTxn)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("transactional producer %q: stopped waiting for records: %w: %w", tp.id, ErrTxn, ctx.Err())
		}
	}
	if tp.records == 0 {
		tp.since = time.Now()
		return nil
	}
	tp.st.Lock()
	offsets := map[string][]*sarama.PartitionOffsetMetadata{}
	for topic := range tp.st.dirty {
		offsets[topic] = []*sarama.PartitionOffsetMetadata{{Partition: tp.p, Offset: tp.st.marked[topic]}}
	}
	clear(tp.st.dirty)
	tp.st.Unlock()
	if len(offsets) > 0 {
		if err := tp.prod.AddOffsetsToTxn(offsets, tp.t.group); err != nil {
			return fmt.Errorf("transactional producer %q: add offsets: %w: %w", tp.id, ErrTxn, err)
		}
	}
	if err := tp.prod.CommitTxn(); err != nil {
		return fmt.Errorf("transactional producer %q: commit: %w: %w", tp.id, ErrTxn, err)
	}
	tp.records, tp.since = 0, time.Now()
	if tp.storage != nil {
		if err := tp.storage.committed(); err != nil {
			return fmt.Errorf("transactional producer %q: write committed state: %w: %w", tp.id, ErrTxn, err)
		}
	}
	if err := tp.prod.BeginTxn(); err != nil {
		return fmt.Errorf("transactional producer %q: begin: %w: %w", tp.id, ErrTxn, err)
	}
	return nil
}

// finishLocked commits the open transaction if all of its records are done
// and nothing failed, and aborts it otherwise; mu is held.
func (tp *txnPart) finishLocked() error {
	err := tp.commitLocked(context.Background(), false /* wait */)
	if err == nil {
		return nil
	}
	if tp.storage != nil {
		tp.storage.aborted()
	}
	tp.records = 0
	if tp.prod.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 ||
		tp.prod.TxnStatus()&sarama.ProducerTxnFlagAbortableError != 0 {
		if aerr := tp.prod.AbortTxn(); aerr != nil {
			// Fenced or the broker is gone: the next owner's producer aborts it.
			tp.t.log.Warn("abort transaction", "id", tp.id, "error", aerr)
		}
	}
	tp.fail(err)
	return err
}

// finish ends the partition's transaction (see finishLocked) and closes the
// producer. Only a failure to close is returned: an aborted transaction is
// the designed outcome of a failure, which the processor reports itself.
func (tp *txnPart) finish() error {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if err := tp.finishLocked(); err != nil {
		tp.t.log.Info("transaction aborted", "id", tp.id, "partition", tp.p, "reason", err)
	}
	return tp.closeProducer()
}

func (tp *txnPart) closeProducer() error {
	tp.st.Lock()
	tp.st.closed = true
	tp.st.Unlock()
	err := tp.prod.Close()
	tp.read.Wait()
	if err != nil {
		return fmt.Errorf("transactional producer %q: close: %w", tp.id, err)
	}
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
