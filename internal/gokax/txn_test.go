package gokax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// countRecords reads topic to its high watermark with the isolation level
// and returns the data records seen.
func countRecords(t *testing.T, addrs []string, topic string, level kgo.IsolationLevel) int {
	t.Helper()
	n := 0
	for _, r := range readAll(t, addrs, topic, level) {
		if !r.Attrs.IsControl() {
			n++
		}
	}
	return n
}

// readAll reads every partition of topic to its high watermark with the
// isolation level, control records included.
func readAll(t *testing.T, addrs []string, topic string, level kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	cl := kafkatest.Client(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.KeepControlRecords())
	ends, err := kafkatest.Admin(t, addrs).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadmListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset - 1
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: partitions %v not read to their end after 30 s", topic, left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if r.Offset >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// txnWriter writes transactions to a topic of one partition with a franz-go
// transactional producer of its own, the data tables are read from.
type txnWriter struct {
	t  *testing.T
	cl *kgo.Client
}

func newTxnWriter(t *testing.T, addrs []string, id string) *txnWriter {
	t.Helper()
	return &txnWriter{t: t, cl: kafkatest.Client(t, addrs, kgo.TransactionalID(id), kgo.DefaultProduceTopic("g-table"))}
}

// write writes n records k0..k(n-1) with header h in a transaction and ends
// it with commit (open: not at all).
func (w *txnWriter) write(n int, end string) {
	w.t.Helper()
	if err := w.cl.BeginTransaction(); err != nil {
		w.t.Fatal(err)
	}
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
		if err := w.cl.ProduceSync(w.t.Context(), r).FirstErr(); err != nil {
			w.t.Fatal(err)
		}
	}
	switch end {
	case "commit":
		if err := w.cl.EndTransaction(w.t.Context(), kgo.TryCommit); err != nil {
			w.t.Fatal(err)
		}
	case "abort":
		if err := w.cl.EndTransaction(w.t.Context(), kgo.TryAbort); err != nil {
			w.t.Fatal(err)
		}
	}
}

// copyGroup is a processor group that copies in to out and counts its
// records per key in its table.
func copyGroup(handled func(string)) Group {
	return Group{Name: "g", Stateful: true, Outputs: []string{"out"}, Inputs: []Input{{Topic: "in", Handle: func(m *Msg, v []byte) {
		old, _ := m.Value()
		n, _ := strconv.Atoi(string(old))
		if err := m.SetValue([]byte(strconv.Itoa(n+1)), nil); err != nil {
			panic(err)
		}
		if err := m.Emit("out", m.Key(), v, nil); err != nil {
			panic(err)
		}
		if handled != nil {
			handled(string(v))
		}
	}}}}
}

// runProcessor runs p until the test ends; it returns the function that
// stops it and reports Run's error.
func runProcessor(t *testing.T, p *Processor) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				err = errors.New("Run did not return within a minute")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// committed returns the group's committed offsets of topic's partitions.
func committed(t *testing.T, addrs []string, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := kafkatest.Admin(t, addrs).FetchOffsets(t.Context(), group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil
	}
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadmOffsetResponse) {
		if o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}

// TestTxnProcessorExactlyOnce runs a copying, counting processor in
// exactly-once mode on 8 partitions: every record is in the output once for
// read-committed readers, the group's offsets cover them all, and the
// processor wrote through one transactional producer, not one per
// partition (KIP-447).
func TestTxnProcessorExactlyOnce(t *testing.T) {
	const parts, n = 8, 400
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "in", parts, nil)
	kafkatest.CreateTopic(t, addrs, "out", parts, nil)
	kafkatest.CreateTopic(t, addrs, "g-table", parts, nil)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%40), Value: []byte(strconv.Itoa(i))})
	}
	kafkatest.Produce(t, addrs, "in", recs...)
	p, err := NewProcessor(copyGroup(nil), Options{Brokers: addrs, Storage: storage.MemoryBuilder(),
		ExactlyOnce: &ExactlyOnce{Instance: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runProcessor(t, p)
	kafkatest.WaitFor(t, time.Minute, func() bool {
		var sum int64
		for _, o := range committed(t, addrs, "g", "in") {
			sum += o
		}
		return sum == n
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := countRecords(t, addrs, "out", kgo.ReadCommitted()); got != n {
		t.Errorf("read_committed sees %d records of out, want %d", got, n)
	}
	txs, err := kafkatest.Admin(t, addrs).ListTransactions(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range txs {
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != TransactionalID("g", "a") {
		t.Errorf("transactional ids %q, want one: %q", ids, TransactionalID("g", "a"))
	}
}

// TestTxnStaleGenerationRefused pins the fencing KIP-447 gives: offsets
// committed in a transaction with a generation of the group that is no
// longer current (a member whose partitions moved) are refused, and the
// transaction, aborted, leaves no record for read-committed readers and no
// offset; with the current generation the same commit goes through.
func TestTxnStaleGenerationRefused(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "in", 2, nil)
	kafkatest.CreateTopic(t, addrs, "out", 2, nil)
	tx := newTxns("g", ExactlyOnce{Instance: "a"}, slog.New(slog.DiscardHandler))
	group := func(opts ...kgo.Opt) *kgo.Client {
		return kafkatest.Client(t, addrs, append(opts, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"),
			kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(10*time.Millisecond),
			kgo.MaxVersions(kversion.FromString(KafkaVersion.String())))...) // as processors (kgoCommonOpts)
	}
	tx.cl = group(tx.kgoOpts()...)
	pollUntil := func(what string, cond func() bool) {
		t.Helper()
		kafkatest.WaitFor(t, time.Minute, func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			tx.cl.PollFetches(ctx)
			cancel()
			return cond()
		})
	}
	var member string
	var gen int32
	pollUntil("a generation", func() bool { member, gen = tx.cl.GroupMetadata(); return gen > 0 })
	other := group()
	go func() {
		for other.Context().Err() == nil {
			other.PollFetches(other.Context())
		}
	}()
	pollUntil("the next generation", func() bool { _, g := tx.cl.GroupMetadata(); return g > gen })

	commit := func(stale bool) error {
		tx.member = nil
		if stale {
			tx.member = func() (string, int32) { return member, gen }
		}
		if err := tx.open(t.Context()); err != nil {
			t.Fatal(err)
		}
		tx.started[topicPartition{"in", 0}] = 4
		tx.marked("in", 0, 5)
		tx.wroteOne()
		if err := tx.cl.ProduceSync(t.Context(), &kgo.Record{Topic: "out", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		tx.gate.Lock()
		defer tx.gate.Unlock()
		err := tx.commitLocked(true)
		if err != nil {
			tx.abortLocked(err)
		}
		tx.finishCommitter()
		return err
	}
	if err := commit(true); !errors.Is(err, ErrTxn) || !errors.Is(err, kerr.IllegalGeneration) {
		t.Fatalf("commit with generation %d after a rebalance: %v, want %v and %v", gen, err, ErrTxn, kerr.IllegalGeneration)
	}
	if got := countRecords(t, addrs, "out", kgo.ReadCommitted()); got != 0 {
		t.Errorf("read_committed sees %d records of the refused transaction, want 0", got)
	}
	if got := committed(t, addrs, "g", "in"); len(got) != 0 {
		t.Errorf("committed offsets %v after the refused transaction, want none", got)
	}
	if err := commit(false); err != nil {
		t.Fatalf("commit with the current generation: %v", err)
	}
	if got := countRecords(t, addrs, "out", kgo.ReadCommitted()); got != 1 {
		t.Errorf("read_committed sees %d records, want the committed transaction's 1", got)
	}
	if got := committed(t, addrs, "g", "in"); got[0] != 5 {
		t.Errorf("committed offset of in/0 = %d, want 5", got[0])
	}
}

// finishCommitter stops the session's committer (tests drive commits).
func (t *txns) finishCommitter() {
	t.mu.Lock()
	stop, done := t.stop, t.done
	t.stop, t.done = nil, nil
	t.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// TestMarkerConsumer pins how tables are read in exactly-once mode ([kconsumer]): committed
// records only, and every transaction marker as a MarkerKey tombstone at its
// offset, so that the last offset delivered is the high watermark minus one
// (goka's recovery waits for it).
func TestMarkerConsumer(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "g-table", 1, nil)
	w := newTxnWriter(t, addrs, "w")
	w.write(3, "commit") // k0 k1 k2 marker
	w.write(2, "commit") // k0 k1 marker
	w.write(4, "abort")  // 4 + marker

	c, err := newKconsumer(addrs, txnConfig(Config()), "test", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition("g-table", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	for len(got) < 7 {
		select {
		case m := <-pc.Messages():
			if string(m.Key) == MarkerKey {
				got = append(got, fmt.Sprintf("marker@%d", m.Offset))
				if m.Value != nil {
					t.Errorf("marker@%d has value %q, want a tombstone", m.Offset, m.Value)
				}
				continue
			}
			got = append(got, fmt.Sprintf("%s@%d", m.Key, m.Offset))
			if len(m.Headers) != 1 || string(m.Headers[0].Key) != "h" {
				t.Errorf("record %s@%d has headers %v, want h", m.Key, m.Offset, m.Headers)
			}
		case err := <-pc.Errors():
			t.Fatalf("consume: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("got %v after 30 s, want 7 records", got)
		}
	}
	want := "[k0@0 k1@1 k2@2 marker@3 k0@4 k1@5 marker@6]"
	if fmt.Sprint(got) != want {
		t.Errorf("delivered %v, want %v", got, want)
	}
	select {
	case m := <-pc.Messages():
		if m.Offset != 11 || string(m.Key) != MarkerKey {
			t.Errorf("after the committed records: %s@%d, want only the abort marker@11", m.Key, m.Offset)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("no abort marker at offset 11 (high watermark - 1) within 30 s")
	}
}

// TestTxnStorage pins that a table's store receives a transaction's writes
// only when it commits, and never those of an aborted one; reads see them
// before.
func TestTxnStorage(t *testing.T) {
	mem := storage.NewMemory()
	s := &txnStorage{Storage: mem, dirty: map[string]cacheEntry{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Set("recovered", []byte("r"))) // recovery writes go straight through
	must(s.SetOffset(1))
	must(s.MarkRecovered())
	must(s.Set("a", []byte("1")))
	must(s.Delete("recovered"))
	must(s.SetOffset(5))
	must(s.Delete(MarkerKey))
	check := func(what string, st storage.Storage, key, want string) {
		t.Helper()
		v, err := st.Get(key)
		must(err)
		if string(v) != want {
			t.Errorf("%s: %s = %q, want %q", what, key, v, want)
		}
	}
	check("before commit, read", s, "a", "1")
	check("before commit, read", s, "recovered", "")
	check("before commit, store", mem, "a", "")
	check("before commit, store", mem, "recovered", "r")
	if off, _ := mem.GetOffset(-1); off != 1 {
		t.Errorf("before commit, stored offset = %d, want 1", off)
	}
	check("before the write-through, read", s, "a", "1")
	must(s.committed()())
	check("after commit, store", mem, "a", "1")
	check("after commit, store", mem, "recovered", "")
	if off, _ := mem.GetOffset(-1); off != 5 {
		t.Errorf("after commit, stored offset = %d, want 5", off)
	}
	must(s.Set("a", []byte("2")))
	must(s.SetOffset(7))
	s.aborted()
	check("after abort, read", s, "a", "1")
	if off, _ := s.GetOffset(-1); off != 5 {
		t.Errorf("after abort, offset = %d, want 5", off)
	}
}

// TestMarkerConsumerAfterFencing pins recovery after a crash: the old
// writer committed transactions and left one open; its restart (same
// transactional id, as a processor's restart on its data dir) fences it and
// aborts the open transaction, and a table consumer then reads every
// committed record and no aborted one, up to the high watermark.
func TestMarkerConsumerAfterFencing(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "g-table", 1, nil)
	old := newTxnWriter(t, addrs, "sluice-g-a")
	for range 3 {
		old.write(2, "commit")
	}
	old.write(2, "open") // the writer "crashed"
	nu := newTxnWriter(t, addrs, "sluice-g-a")
	if _, _, err := nu.cl.ProducerID(t.Context()); err != nil { // fences and aborts
		t.Fatal(err)
	}
	var got []string
	for _, r := range readMarkers(t, addrs) {
		got = append(got, r)
	}
	want := "[k0@0 k1@1 marker@2 k0@3 k1@4 marker@5 k0@6 k1@7 marker@8 marker@11]"
	if fmt.Sprint(got) != want {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

// readMarkers reads g-table/0 through a table consumer with markers to its high
// watermark.
func readMarkers(t *testing.T, addrs []string) []string {
	t.Helper()
	c, err := newKconsumer(addrs, txnConfig(Config()), "test", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition("g-table", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ends, err := kafkatest.Admin(t, addrs).ListEndOffsets(t.Context(), "g-table")
	if err != nil {
		t.Fatal(err)
	}
	end := ends["g-table"][0].Offset
	var got []string
	for last := int64(-1); last < end-1; {
		select {
		case m := <-pc.Messages():
			last = m.Offset
			if string(m.Key) == MarkerKey {
				got = append(got, fmt.Sprintf("marker@%d", m.Offset))
			} else {
				got = append(got, fmt.Sprintf("%s@%d", m.Key, m.Offset))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("got %v after 30 s, want up to offset %d", got, end-1)
		}
	}
	return got
}

type gokaContext = goka.Context

// endingCtx is the goka.Context of a record whose session is ending: only the
// methods txns.handle calls are implemented.
type endingCtx struct {
	gokaContext // nil: a call to any other method panics
	ctx         context.Context
	offset      int64
	finished    chan error // what the record was finished with
}

func (c endingCtx) Partition() int32         { return 0 }
func (c endingCtx) Topic() goka.Stream       { return "in" }
func (c endingCtx) Offset() int64            { return c.offset }
func (c endingCtx) Context() context.Context { return c.ctx }
func (c endingCtx) DeferCommit() func(error) { return func(err error) { c.finished <- err } }

// TestTxnSessionEnds pins that a rebalance is no failure: a record that
// comes after the transaction failed, while its session ends, is finished
// without an error (the processor goes on) and not handled; one that comes
// while the session lives is finished with the failure (the processor
// stops).
func TestTxnSessionEnds(t *testing.T) {
	tx := newTxns("g", ExactlyOnce{}, slog.New(slog.DiscardHandler))
	tx.fail(fmt.Errorf("commit refused: %w", ErrTxn))
	for _, tc := range []struct {
		name   string
		ending bool
	}{{"session ending", true}, {"session lives", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tc.ending {
				cancel()
			} else {
				defer cancel()
			}
			rec := endingCtx{ctx: ctx, offset: 1, finished: make(chan error, 1)}
			handled := false
			tx.handle(rec, func() { handled = true })
			err := <-rec.finished
			if tc.ending && err != nil {
				t.Errorf("record finished with %v, want nil: a session's end is no failure", err)
			}
			if !tc.ending && !errors.Is(err, ErrTxn) {
				t.Errorf("record finished with %v, want %v: the processor must stop", err, ErrTxn)
			}
			if handled {
				t.Error("record handled in a transaction that cannot commit")
			}
		})
	}
}

// TestTxnCommitBounds pins when a transaction is due: once it holds
// CommitRecords records (the committer is kicked at once), or once it is
// older than CommitInterval, not before either; and the defaults.
func TestTxnCommitBounds(t *testing.T) {
	tx := newTxns("g", ExactlyOnce{CommitRecords: 3, CommitInterval: time.Hour}, slog.New(slog.DiscardHandler))
	tx.since = time.Now()
	for i := range 3 {
		if tx.due() {
			t.Fatalf("due after %d records, want after 3", i)
		}
		tx.handle(endingCtx{ctx: t.Context(), offset: int64(i)}, func() {})
	}
	if !tx.due() {
		t.Error("not due after 3 records of CommitRecords 3")
	}
	select {
	case <-tx.kick:
	default:
		t.Error("the committer was not kicked at the third record")
	}

	tx = newTxns("g", ExactlyOnce{CommitInterval: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if tx.records != DefaultCommitRecords || DefaultCommitRecords != 50000 {
		t.Errorf("CommitRecords 0 gives %d, want DefaultCommitRecords 50,000 (%d)", tx.records, DefaultCommitRecords)
	}
	tx.since = time.Now()
	tx.handle(endingCtx{ctx: t.Context(), offset: 0}, func() {})
	if tx.due() {
		t.Error("due at once with one record, want after the 50 ms interval")
	}
	time.Sleep(60 * time.Millisecond)
	if !tx.due() {
		t.Error("not due after the 50 ms interval")
	}
}

// TestTxnFinishAbortsUnsettled pins the end of a session with a record not
// done (its write never acknowledged, goka's mark never in): its
// transaction aborts, nothing of it is read committed, no offset moves.
func TestTxnFinishAbortsUnsettled(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "in", 1, nil)
	kafkatest.CreateTopic(t, addrs, "out", 1, nil)
	tx := newTxns("g", ExactlyOnce{Instance: "a"}, slog.New(slog.DiscardHandler))
	tx.cl = kafkatest.Client(t, addrs, append(tx.kgoOpts(), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"),
		kgo.MaxVersions(kversion.FromString(KafkaVersion.String())))...)
	if err := tx.open(t.Context()); err != nil {
		t.Fatal(err)
	}
	tx.mu.Lock()
	tx.started[topicPartition{"in", 0}] = 0 // handed to a callback, never marked
	tx.count++
	tx.mu.Unlock()
	tx.wroteOne()
	if err := tx.cl.ProduceSync(t.Context(), &kgo.Record{Topic: "out", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if got := countRecords(t, addrs, "out", kgo.ReadCommitted()); got != 0 {
		t.Errorf("read_committed sees %d records, want 0: the transaction must abort", got)
	}
	if got := countRecords(t, addrs, "out", kgo.ReadUncommitted()); got != 1 {
		t.Errorf("read_uncommitted sees %d records, want the aborted one", got)
	}
	if got := committed(t, addrs, "g", "in"); len(got) != 0 {
		t.Errorf("committed offsets %v, want none", got)
	}
	if !strings.HasPrefix(tx.id, "sluice-g-") {
		t.Errorf("transactional id %q", tx.id)
	}
}

type (
	kadmListedOffset   = kadm.ListedOffset
	kadmOffsetResponse = kadm.OffsetResponse
)
