package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// writeTxn writes k0..k(keys-1) with value v in a transaction of cl, and
// commits it unless open.
func writeTxn(t *testing.T, cl *kgo.Client, v string, open bool) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Key: fmt.Appendf(nil, "k%d", k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if !open {
		if err := cl.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactStopsAtOpenTransaction pins that the broker, as Kafka, compacts
// only below the last stable offset: records of an open transaction do not
// supersede committed records of their keys, so when the transaction aborts
// (its producer crashed and a new one fenced it), the committed values are
// still there. kfake's own cleaner removed them (the test was
// TestKfakeCompactsOpenTransactions, which pinned that defect). Once the
// transaction is over the broker compacts, and the aborted records go.
func TestCompactStopsAtOpenTransaction(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		// sluice's own clients speak Kafka 2.8: AddPartitionsToTxn.
		{"AddPartitionsToTxn", []kgo.Opt{kgo.MaxVersions(kversion.V2_8_0())}},
		// KIP-890: produce v12 adds the partition to the transaction.
		{"implicit add", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.Start(t, broker.CleanerInterval(time.Hour))
			addrs := b.Addrs()
			kafkatest.CreateTopic(t, addrs, "table", 1, compacted())
			opts := append([]kgo.Opt{kgo.TransactionalID("writer"), kgo.DefaultProduceTopic("table")}, tc.opts...)
			crashed := kafkatest.Client(t, addrs, opts...)
			writeTxn(t, crashed, "committed", false)
			writeTxn(t, crashed, "open", true)
			// kfake never cleans a partition's last batch.
			kafkatest.Produce(t, addrs, "table", &kgo.Record{Key: []byte(sentinel), Value: []byte(sentinel)})

			if b.Compact() {
				t.Error("Compact reports it compacted while a transaction was open on the topic")
			}
			fencer := kafkatest.Client(t, addrs, opts...)
			if _, _, err := fencer.ProducerID(t.Context()); err != nil { // the open transaction aborts
				t.Fatal(err)
			}
			recs, _ := kafkatest.ReadCommitted(t, addrs, "table")
			if err := committedOnly(recs); err != nil {
				t.Fatalf("after Compact during an open transaction that then aborted: %v", err)
			}

			if !b.Compact() {
				t.Fatal("Compact did not compact with no transaction open")
			}
			if err := committedOnly(readUncommitted(t, addrs, "table")); err != nil {
				t.Fatalf("after Compact with no transaction open, read uncommitted: %v", err)
			}
		})
	}
}

// readUncommitted returns the data records of topic's partition 0, read up
// to its high watermark, aborted ones included.
func readUncommitted(t *testing.T, addrs []string, topic string) []*kgo.Record {
	t.Helper()
	end := highWatermark(t, addrs, topic)
	cl := kafkatest.Client(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for read := int64(0); read < end; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: offset %d not reached within a minute", topic, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read = r.Offset + 1
			if !r.Attrs.IsControl() {
				recs = append(recs, r)
			}
		})
	}
	return recs
}

// highWatermark returns the high watermark of topic's partition 0.
func highWatermark(t *testing.T, addrs []string, topic string) int64 {
	t.Helper()
	ends, err := kafkatest.Admin(t, addrs).ListEndOffsets(t.Context(), topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// committedOnly reports whether recs are each key once at "committed", then
// the sentinel; if not, it says why.
func committedOnly(recs []*kgo.Record) error {
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Key)+"="+string(r.Value))
	}
	var want []string
	for k := range keys {
		want = append(want, fmt.Sprintf("k%d=committed", k))
	}
	want = append(want, sentinel+"="+sentinel)
	if !slices.Equal(got, want) {
		return fmt.Errorf("records %v, want %v", got, want)
	}
	return nil
}

// TestCompactsUnderTransactionalLoad pins that a broker whose compacted
// topic always has a transaction open still compacts it (by draining: it
// refuses new transactions there until the open ones end, see
// internal/broker/drain.go), and loses no committed record: transactional
// producers write their keys in transactions held open for a while, back to
// back, every fifth aborted, until the cleaner has compacted the topic three times
// under them; then every key's last committed value is read back. Without
// the drain the cleaner would need a moment when all of them are between two
// transactions, which rarely comes. It logs the longest transaction
// each producer saw, which includes the pause a drain cost it.
func TestCompactsUnderTransactionalLoad(t *testing.T) {
	drains := &drainLog{}
	b := kafkatest.Start(t, broker.CleanerInterval(200*time.Millisecond), broker.WithLogger(slog.New(drains)))
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "table", 2, compacted())

	producers := []struct {
		name string
		opts []kgo.Opt
	}{
		{"p0", []kgo.Opt{kgo.MaxVersions(kversion.V2_8_0())}},
		{"p1", []kgo.Opt{kgo.MaxVersions(kversion.V2_8_0())}},
		{"p2", []kgo.Opt{kgo.MaxVersions(kversion.V2_8_0())}},
		{"p3", nil}, // KIP-890 implicit adds
		{"p4", nil},
		{"p5", nil},
	}
	// Stopped between transactions: a commit cut short by a cancelled
	// context may have happened.
	var stopped atomic.Bool
	defer stopped.Store(true)
	var wg sync.WaitGroup
	last := make([]int, len(producers))              // each producer's last committed transaction
	longest := make([]time.Duration, len(producers)) // and its longest one
	errs := make(chan error, len(producers))
	for i, p := range producers {
		cl := kafkatest.Client(t, addrs, append([]kgo.Opt{kgo.TransactionalID(p.name), kgo.DefaultProduceTopic("table")}, p.opts...)...)
		wg.Go(func() {
			for n := 1; !stopped.Load(); n++ {
				start := time.Now()
				if err := loadTxn(t.Context(), cl, p.name, n); err != nil {
					errs <- fmt.Errorf("%s, transaction %d: %w", p.name, n, err)
					return
				}
				longest[i] = max(longest[i], time.Since(start))
				if n%5 != 0 {
					last[i] = n
				}
			}
		})
	}

	// Compaction is what makes a partition's bytes shrink.
	compactions, prev := 0, map[int32]int64{}
	kafkatest.WaitFor(t, 15*time.Second, func() bool {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		for _, p := range b.Cluster().PartitionInfos("table") {
			if p.NumBytes < prev[p.Partition] {
				compactions++
			}
			prev[p.Partition] = p.NumBytes
		}
		return compactions >= 3
	})
	stopped.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if n, held := drains.counts(); n == 0 || held == 0 {
		t.Errorf("%d compactions after a drain, %d requests held: the load did not make the cleaner drain", n, held)
	} else {
		t.Logf("%d compactions after a drain, %d requests held", n, held)
	}

	got := map[string]string{}
	recs, _ := kafkatest.ReadCommitted(t, addrs, "table")
	for _, r := range recs {
		got[string(r.Key)] = string(r.Value)
	}
	for i, p := range producers {
		t.Logf("%s: %d transactions committed, the longest took %v", p.name, last[i], longest[i])
		for k := range loadKeys {
			key := fmt.Sprintf("%s-k%d", p.name, k)
			if want := strconv.Itoa(last[i]); got[key] != want {
				t.Errorf("%s = %q, want %s, its last committed value", key, got[key], want)
			}
		}
	}
}

// loadKeys is how many keys each producer of TestCompactsUnderTransactionalLoad
// writes in each transaction, and loadHold how long it keeps it open.
const (
	loadKeys = 10
	loadHold = 50 * time.Millisecond
)

// loadTxn writes name's keys with value n in a transaction that it keeps
// open for loadHold, half of them at once, the others at its end. It aborts
// the transaction if n is a multiple of 5 and commits it otherwise.
func loadTxn(ctx context.Context, cl *kgo.Client, name string, n int) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	var recs []*kgo.Record
	for k := range loadKeys {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "%s-k%d", name, k), Value: []byte(strconv.Itoa(n))})
	}
	if err := cl.ProduceSync(ctx, recs[:loadKeys/2]...).FirstErr(); err != nil {
		return err
	}
	time.Sleep(loadHold)
	if err := cl.ProduceSync(ctx, recs[loadKeys/2:]...).FirstErr(); err != nil {
		return err
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(n%5 != 0))
}

// drainLog is a slog handler that counts the broker's compactions after a
// drain and the requests they held.
type drainLog struct {
	mu      sync.Mutex
	n, held int64
}

func (*drainLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *drainLog) WithAttrs([]slog.Attr) slog.Handler     { return l }
func (l *drainLog) WithGroup(string) slog.Handler          { return l }

func (l *drainLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "broker: compacted after draining transactions" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "held" {
			l.held += a.Value.Int64()
		}
		return true
	})
	return nil
}

func (l *drainLog) counts() (n, held int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.held
}

// TestCleanerConfigStaysOff pins that a client cannot start kfake's own
// cleaner, which compacts past open transactions, by altering the broker's
// log.cleaner.backoff.ms: incrementally, or by a non-incremental
// AlterConfigs, which replaces every broker config (kfake's default is 1 h).
// Other broker configs can still be altered.
func TestCleanerConfigStaysOff(t *testing.T) {
	b := kafkatest.Start(t)
	adm := kafkatest.Admin(t, b.Addrs())
	one := "1000"
	for _, tc := range []struct {
		name        string
		incremental bool
		alter       []kadm.AlterConfig
		refused     bool
	}{
		{"incremental set", true, []kadm.AlterConfig{{Name: "log.cleaner.backoff.ms", Value: &one}}, true},
		{"incremental delete", true, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.cleaner.backoff.ms"}}, true},
		{"replace without it", false, []kadm.AlterConfig{{Name: "log.retention.ms", Value: &one}}, true},
		{"incremental other", true, []kadm.AlterConfig{{Name: "log.retention.ms", Value: &one}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alter := adm.AlterBrokerConfigsState
			if tc.incremental {
				alter = adm.AlterBrokerConfigs
			}
			resps, err := alter(t.Context(), tc.alter)
			if err == nil {
				for _, r := range resps {
					err = errors.Join(err, r.Err)
				}
			}
			if tc.refused != errors.Is(err, kerr.InvalidConfig) {
				t.Errorf("alter: %v, want refused %v with %v", err, tc.refused, kerr.InvalidConfig)
			}
			described, err := adm.DescribeBrokerConfigs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, rc := range described {
				for _, c := range rc.Configs {
					if c.Key == "log.cleaner.backoff.ms" && c.MaybeValue() != "1099511627776" {
						t.Errorf("log.cleaner.backoff.ms = %q after the alter, want kfake's cleaner off", c.MaybeValue())
					}
				}
			}
		})
	}
}
