package gokax

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/internal/logadapt"
)

// View is a goka view of one table: a local copy of the table's changelog,
// partitioned as processors partition it ([Hasher]), that follows the changelog
// until it is stopped. Build it with [NewView] and run it once.
//
// goka's View opens a consumer and a topic manager in NewView and never
// closes either: every view leaked their clients and goroutines. View keeps
// what its builders opened (franz-go's: [kconsumer], [topicManager]) and
// closes it when [View.Run] returns.
//
// goka's own Recovered is false whenever any partition is reconnecting (its
// partition state goes back to "connecting" at every reconnect), so a view
// that lost its broker looked as if it had never recovered, although every
// value was still in local storage and goka's Get answered from it. View's
// [View.Recovered] is true from the first time every partition caught up on.
type View struct {
	v         *goka.View
	clients   consumers // the consumers and topic managers goka opened
	stamped   bool      // values are stored behind their record time; see [StampValues]
	parts     int
	recovered atomic.Bool
	offsets   localOffsets

	// A changelog read the cluster's ACLs deny for longer than limit
	// (Consumer.Group.Rebalance.Timeout) stops Run with refused, which
	// goka would retry for ever; goka's reconnects back off 10 s and
	// more, so only records read or a gap longer than retrySpacing end a
	// streak.
	denials Denials
	limit   time.Duration
	refused atomic.Pointer[error]
	stop    atomic.Pointer[context.CancelFunc] // Run's, while it runs
}

// A ViewOption configures [NewView].
type ViewOption func(*View)

// StampValues makes the view keep each value's record time (the time the
// table's owner wrote it, as the changelog record says) in local storage, in
// front of the value: [View.GetStamped] returns it. Storage written with it
// must only ever be read with it, and storage written without it never with
// it; topology.View keeps a format marker beside its storage for that.
func StampValues() ViewOption { return func(v *View) { v.stamped = true } }

// NewView builds the goka view of table with o's brokers, sarama configuration
// and storage (o.Tester replaces them). The view reconnects by itself after
// broker errors (goka's WithViewAutoReconnect): [View.Run] returns only when its
// context is done or local storage fails. Like goka, NewView dials the brokers.
func NewView(table string, o Options, opts ...ViewOption) (*View, error) {
	cfg, logger := o.config(), o.logger() // read committed in exactly-once mode; see kconsumer
	v := &View{}
	for _, opt := range opts {
		opt(v)
	}
	v.offsets.m = map[int32]*atomic.Int64{}
	v.limit = cfg.Consumer.Group.Rebalance.Timeout
	v.clients.watch = &fetchWatch{denials: &v.denials, deny: v.deny}
	gopts := []goka.ViewOption{
		goka.WithViewClientID("sluice-view-" + table),
		goka.WithViewHasher(Hasher),
		goka.WithViewLogger(logadapt.Goka(logger.With("topic", table))),
		goka.WithViewAutoReconnect(),
		goka.WithViewStorageBuilder(v.offsets.builder(o.Storage)),
		goka.WithViewConsumerSaramaBuilder(consumerBuilder(cfg, o.exactlyOnce(), &v.clients)),
		goka.WithViewTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			return v.clients.trackManager(TopicManagerBuilder(cfg)(brokers))
		}),
	}
	if v.stamped {
		gopts = append(gopts, goka.WithViewCallback(stamp))
	}
	if o.Tester != nil {
		gopts = append(gopts, goka.WithViewTester(o.Tester))
	}
	gv, err := goka.NewView(o.Brokers, goka.Table(table), new(codec.Bytes), gopts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("view of %q: %w", table, err), v.clients.closeAll())
	}
	v.v = gv
	// goka learnt the partition count in NewView; its statistics have an entry
	// per partition (and do no I/O).
	v.parts = len(gv.Stats(context.Background()).Partitions)
	return v, nil
}

// stampSize is the length of the record time in front of a stamped value.
const stampSize = 8

// stamp is the update callback of a stamped view: it stores the record time,
// in Unix nanoseconds (0 for none), in front of the value.
func stamp(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	if value == nil {
		return s.Delete(key)
	}
	var ns int64
	if ts := ctx.Timestamp(); !ts.IsZero() {
		ns = ts.UnixNano()
	}
	b := make([]byte, stampSize+len(value))
	binary.BigEndian.PutUint64(b, uint64(ns))
	copy(b[stampSize:], value)
	return s.Set(key, b)
}

// deny times err, a fetch error of topic, if it is an ACL denial, and
// stops Run once the denial lasted v.limit.
func (v *View) deny(topic string, err error) {
	g, ok := denied(err, "READ", topic, "", "")
	if !ok {
		return
	}
	if since, over := v.denials.see(g, time.Now(), v.limit, v.limit+retrySpacing); over {
		refusal := g.refusal("fetch", since, v.limit, "")
		if v.refused.CompareAndSwap(nil, &refusal) {
			if stop := v.stop.Load(); stop != nil {
				(*stop)()
			}
		}
	}
}

// Run recovers the table from its changelog and follows it until ctx is done.
// It returns nil after a shutdown caused by ctx, and an error wrapping
// [ErrNotAuthorized] when the cluster's ACLs denied it the changelog for
// longer than Consumer.Group.Rebalance.Timeout. Local storage is closed,
// and the view's clients with it, when Run returns.
func (v *View) Run(ctx context.Context) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	v.stop.Store(&stop)
	defer v.stop.Store(nil)
	if v.refused.Load() != nil {
		stop()
	}
	wctx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() {
		// goka's view state is "running" only while every partition is: the
		// first time it is, every partition has recovered.
		select {
		case <-v.v.WaitRunning():
			v.recovered.Store(true)
		case <-wctx.Done():
		}
	})
	err := v.v.Run(rctx)
	stopWatch()
	watch.Wait()
	if r := v.refused.Load(); r != nil {
		err = *r
	} else if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = nil
	}
	return errors.Join(err, v.clients.closeAll())
}

// Get returns the value of key, nil if the table has none. It fails while the
// view is not running (before Run, or after it returned). Safe for concurrent
// use while Run runs.
func (v *View) Get(key string) ([]byte, error) {
	b, _, err := v.GetStamped(key)
	return b, err
}

// GetStamped returns the value of key and the time its record was written
// (zero if the view is not stamped, see [StampValues], or the record had no
// time); nil if the table has no value for key. It fails as [View.Get] does.
func (v *View) GetStamped(key string) ([]byte, time.Time, error) {
	x, err := v.v.Get(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	b, err := asBytes(x)
	if err != nil || b == nil || !v.stamped {
		return b, time.Time{}, err
	}
	val, at, err := Unstamp(b)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("value of %q: %w", key, err)
	}
	return val, at, nil
}

// Recovered reports whether every partition has caught up with its changelog
// once since Run started. It stays true while the view reconnects, and
// through broker outages: [View.Get] answers from local storage meanwhile.
func (v *View) Recovered() bool { return v.recovered.Load() }

// Readable reports whether [View.Get] may be called: every partition's local
// storage is open (goka refuses reads before, and after Run returned).
func (v *View) Readable() bool {
	s := v.v.CurrentState()
	return s != goka.ViewStateIdle && s != goka.ViewStateInitializing
}

// Running reports whether every partition is caught up and following the
// changelog now.
func (v *View) Running() bool { return v.v.CurrentState() == goka.ViewStateRunning }

// Partitions returns the number of partitions of the table.
func (v *View) Partitions() int { return v.parts }

// Offsets returns, for every partition whose local storage has been opened,
// the offset of the last changelog record it holds (-1 for none).
func (v *View) Offsets() map[int32]int64 { return v.offsets.snapshot() }

// notOpen is the offset of a partition whose storage is being opened.
const notOpen = -2

// localOffsets follows the changelog offset each partition's local storage
// holds, as goka reads and sets it.
type localOffsets struct {
	mu sync.Mutex
	m  map[int32]*atomic.Int64
}

// builder wraps b so that every partition's storage reports its offsets.
func (l *localOffsets) builder(b storage.Builder) storage.Builder {
	if b == nil {
		return nil
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		off, ok := l.m[partition]
		if !ok {
			off = new(atomic.Int64)
			l.m[partition] = off
		}
		off.Store(notOpen)
		l.mu.Unlock()
		return &offsetStorage{Storage: st, offset: off}, nil
	}
}

func (l *localOffsets) snapshot() map[int32]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int32]int64, len(l.m))
	for p, off := range maps.All(l.m) {
		if o := off.Load(); o != notOpen {
			out[p] = o
		}
	}
	return out
}

// offsetStorage is a partition's storage that publishes its offset.
type offsetStorage struct {
	storage.Storage
	offset *atomic.Int64
}

func (s *offsetStorage) Open() error {
	if err := s.Storage.Open(); err != nil {
		return err
	}
	off, err := s.Storage.GetOffset(-1)
	if err != nil {
		return err
	}
	s.offset.Store(off)
	return nil
}

func (s *offsetStorage) SetOffset(offset int64) error {
	if err := s.Storage.SetOffset(offset); err != nil {
		return err
	}
	s.offset.Store(offset)
	return nil
}
