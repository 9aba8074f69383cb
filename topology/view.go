package topology

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/gokax"
)

// ErrViewNotRunning is returned by [View.Get] before [View.Run] has started the
// view, and after it returned.
var ErrViewNotRunning = errors.New("topology: view not running")

// ErrViewRunning is returned by [View.Run] while another call to it runs.
var ErrViewRunning = errors.New("topology: view already running")

// View is a typed, read-only local copy of a table (goka's View): every
// partition of the table's changelog, kept in Pebble storage under
// DataDir/views/TABLE and followed as the owning agent writes it. A service
// that answers queries by key (a feature lookup, a dashboard) reads a View; an
// agent reads other tables with [Lookup] and [Join] instead. Several views of
// one table, in several processes, each hold a full copy: run as many as the
// load needs.
//
// A View answers from its copy from its first recovery on ([View.Recovered]):
// while the agent that owns the table restarts, and while the broker is
// down or the view reconnects, [View.Get] answers with what the copy holds,
// and [View.Freshness] says how current that is. It sees the agent's writes
// again once they reach the broker. Its local storage survives its own
// restarts, so it recovers only what it missed, and a view started on storage
// that had recovered answers from it at once, even while no broker answers.
//
// A View is safe for concurrent use.
type View[T any] struct {
	table Table[T]
	c     *runConfig
	fresh freshness

	mu struct {
		sync.RWMutex
		v       *gokax.View // set while Run runs goka's view
		local   *localCopy  // set while Run answers from the local copy without it
		started bool
	}
}

// Entry is a value of a table as a [View] holds it.
type Entry[T any] struct {
	// Value is the value, decoded with the table's codec.
	Value T
	// AsOf is when the value became the table's value: the time of the
	// changelog record that set it (the time the owning agent wrote it,
	// unless the writer set the record's time). The zero time if the record
	// had none.
	AsOf time.Time
}

// NewView returns a view of t for the cluster named by [Brokers] (required).
// The other options that apply are [DataDir] (its storage is
// DataDir/views/TABLE; two views of one table must not share a DataDir),
// [KafkaConfig], [WithSecurity], [WithLogger] and [ExactlyOnce] (read committed updates only:
// use it for tables of agents in that mode). NewView validates and does not dial: [View.Run]
// connects. It fails with [ErrNoName], [ErrNoCodec] or [ErrNoBrokers].
func NewView[T any](t Table[T], opts ...Option) (*View[T], error) {
	c := newRunConfig(opts)
	if err := c.check(forView); err != nil {
		return nil, fmt.Errorf("view of %q: %w", t.Name, err)
	}
	if t.Name == "" {
		return nil, fmt.Errorf("view: %w", ErrNoName)
	}
	if t.Codec == nil {
		return nil, fmt.Errorf("view of %q: %w", t.Name, ErrNoCodec)
	}
	if len(c.brokers) == 0 {
		return nil, fmt.Errorf("view of %q: %w", t.Name, ErrNoBrokers)
	}
	if err := c.connect(); err != nil {
		return nil, fmt.Errorf("view of %q: %w", t.Name, err)
	}
	return &View[T]{table: t, c: c}, nil
}

// Table returns the table the view reads.
func (v *View[T]) Table() Table[T] { return v.table }

// Run connects the view, recovers the table into local storage and follows its
// changelog until ctx is done. Broker errors do not stop it: it reconnects, and
// [View.Get] answers from local storage meanwhile. It returns nil after a
// shutdown caused by ctx, and an error if the view could not be built (the
// table's topic does not exist, the broker refused the credentials or the
// certificate) or its storage failed. Every goroutine Run started has exited,
// and local storage is closed, when it returns. Run fails with
// [ErrViewRunning] while another call runs; after one returned, Run may be
// called again, and resumes from local storage.
//
// On local storage that recovered in an earlier Run (and still holds every
// partition it did), Run answers from it at once, read-only, and also while
// no broker can be reached: it asks the broker with backoff (a log line when
// it cannot reach it, one when it answers again) and then follows the
// changelog, holding Gets for the moment it takes goka to open the storage.
// On storage that never recovered (fresh or wiped), Run fails at once, as
// with no local storage, when no broker answers: there is nothing to answer
// from.
//
// Local storage without the state file views keep beside it (written by an
// older sluice, or by something else) is removed first and rebuilt from the
// changelog.
func (v *View[T]) Run(ctx context.Context) error {
	v.mu.Lock()
	if v.mu.started {
		v.mu.Unlock()
		return fmt.Errorf("view of %q: %w", v.table.Name, ErrViewRunning)
	}
	v.mu.started = true
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.mu.started = false
		v.mu.Unlock()
	}()

	dir := v.dir()
	st, wiped, err := openViewState(dir, v.table.Name)
	if err != nil {
		return fmt.Errorf("view of %q: %w", v.table.Name, err)
	}
	if wiped {
		v.c.logger.Info("view: local copy without a state file removed, rebuilding it from the changelog", "topic", v.table.Name, "dir", dir)
	}
	v.fresh.reset(st)
	probe, err := newProber(v.c.brokers, v.c.kafka, v.table.Name, v.c.exactlyOnce)
	if err != nil {
		return err
	}
	defer probe.close()
	closeMemory, err := v.c.openStateMemory(1)
	if err != nil {
		return fmt.Errorf("view of %q: %w", v.table.Name, err)
	}
	defer closeMemory()
	o := gokax.Options{
		Brokers: v.c.brokers,
		Config:  v.c.kafka,
		Storage: v.c.storageBuilder(dir),
		Logger:  v.c.logger,
	}
	if v.c.exactlyOnce {
		o.ExactlyOnce = &gokax.ExactlyOnce{} // read committed
	}
	lc, err := openLocalCopy(o.Storage, v.table.Name, st)
	if err != nil {
		return fmt.Errorf("view of %q: %w", v.table.Name, err)
	}
	var gv *gokax.View
	if lc == nil {
		if gv, err = v.build(ctx, o, probe); err != nil {
			return err
		}
	} else {
		// Answer from the copy at once, and while the broker cannot be reached.
		v.fresh.prior.Store(true)
		v.mu.Lock()
		v.mu.local = lc
		v.mu.Unlock()
		if gv, err = v.buildRetrying(ctx, o, probe); gv == nil {
			v.mu.Lock()
			v.mu.local = nil
			v.mu.Unlock()
			st.Heard = v.fresh.heardAt()
			if cerr := errors.Join(lc.close(), st.save(dir)); cerr != nil {
				err = errors.Join(err, fmt.Errorf("view of %q: %w", v.table.Name, cerr))
			}
			return err // nil after a shutdown caused by ctx
		}
	}
	// goka's view closes its storage when its Run returns; Get must not reach it
	// then. Run stops goka only after taking the lock from every Get in flight.
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	var closeErr error
	v.mu.Lock()
	if lc != nil {
		// goka opens the storage the copy has open: close it first, and hold
		// Gets until goka reads every partition.
		v.mu.local = nil
		closeErr = lc.close()
	}
	go func() { done <- gv.Run(gctx) }()
	v.mu.v = gv
	if lc != nil {
		lc.waitReadable(ctx, gv, done)
	}
	v.mu.Unlock()

	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan viewState, 1)
	go func() { watched <- v.watch(wctx, gv, probe, dir, st) }()

	select {
	case <-ctx.Done():
	case err = <-done: // storage failed: goka stopped by itself
	}
	stopWatch()
	st = <-watched
	v.mu.Lock()
	v.mu.v = nil
	v.mu.Unlock()
	cancel()
	if err == nil {
		err = <-done
	}
	// Storage is closed: the offsets are final. It holds a recovered copy if
	// it did when Run started, or recovered since (maybe after watch looked).
	st.Recovered = st.Recovered || gv.Recovered()
	st.setOffsets(gv.Offsets())
	st.Heard = v.fresh.heardAt()
	if serr := st.save(dir); serr != nil {
		err = errors.Join(err, serr)
	}
	err = errors.Join(err, closeErr)
	if err != nil {
		return fmt.Errorf("view of %q: %w", v.table.Name, err)
	}
	return nil
}

// watch follows gv until ctx is done, and returns the view's state as it last
// wrote it: it decides whether storage that recovered in an earlier Run
// still holds what it did, writes the state file when gv has recovered and
// every [viewSaveInterval] after, and probes the broker every
// [ProbeInterval] for [View.Freshness].
func (v *View[T]) watch(ctx context.Context, gv *gokax.View, probe *prober, dir string, st viewState) viewState {
	var probing sync.WaitGroup
	defer probing.Wait()
	probing.Go(func() { v.probe(ctx, gv, probe) })

	const poll = 10 * time.Millisecond
	tick := time.NewTicker(poll)
	defer tick.Stop()
	decided := !st.Recovered // nothing to decide for storage that never recovered
	recovered := false
	var lastSave time.Time
	for {
		if !decided {
			if offsets := gv.Offsets(); len(offsets) == gv.Partitions() {
				decided = true
				st.Recovered = st.holds(offsets, gv.Partitions())
				v.fresh.prior.Store(st.Recovered)
			}
		}
		if ends := v.fresh.ends.Load(); ends != nil {
			v.fresh.lag.Store(lagOf(*ends, gv.Offsets()))
		}
		if !recovered && gv.Recovered() {
			recovered, st.Recovered = true, true
			lastSave = time.Time{} // write it now
		}
		if now := time.Now(); recovered && now.Sub(lastSave) >= viewSaveInterval {
			lastSave = now
			st.setOffsets(gv.Offsets())
			st.Heard = v.fresh.heardAt()
			if err := st.save(dir); err != nil {
				v.c.logger.Warn("view: cannot write its state file", "topic", v.table.Name, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return st
		case <-tick.C:
		}
	}
}

// probe asks the broker for the end offsets of the table every
// [ProbeInterval] until ctx is done, and records when it answered and how far
// behind them gv's copy was.
func (v *View[T]) probe(ctx context.Context, gv *gokax.View, probe *prober) {
	tick := time.NewTicker(ProbeInterval)
	defer tick.Stop()
	for {
		ends, err := probe.ends(ctx)
		switch {
		case err == nil:
			v.fresh.lag.Store(lagOf(ends, gv.Offsets()))
			v.fresh.ends.Store(&ends)
			v.fresh.heard.Store(time.Now().UnixNano())
		case ctx.Err() == nil:
			v.c.logger.Debug("view: the broker did not answer", "topic", v.table.Name, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// HasCopy reports whether the view's local storage holds a copy that
// recovered in an earlier [View.Run], as the state file beside it says: Run
// answers from it at once, also while no broker answers (unless a partition's
// storage was deleted since, which Run finds when it opens it). It reads the
// file and changes nothing; a program may ask it before deciding whether to
// wait for the cluster.
func (v *View[T]) HasCopy() bool {
	st, ok := readViewState(v.dir(), v.table.Name)
	return ok && st.Recovered && len(st.Offsets) > 0
}

// dir is the directory of the view's local storage.
func (v *View[T]) dir() string { return filepath.Join(v.c.dataDir, "views", v.table.Name) }

// Get returns the value of key, decoded with the table's codec; ok is false if
// the table has no value for key. Before the view has recovered, Get answers
// from what it has so far (see [View.WaitRecovered]); after, from its local
// copy, whether or not the broker is reachable, also in a Run that started
// while it was not. It fails with
// [ErrViewNotRunning] outside [View.Run] (and while Run opens local storage)
// and with a [*DecodeError] for a value the codec rejects.
func (v *View[T]) Get(key string) (val T, ok bool, err error) {
	e, ok, err := v.Entry(key)
	return e.Value, ok, err
}

// Entry returns the value of key with the time it was written; ok is false
// if the table has no value for key. It answers and fails as [View.Get].
func (v *View[T]) Entry(key string) (e Entry[T], ok bool, err error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var (
		b  []byte
		at time.Time
	)
	switch {
	case v.mu.local != nil:
		b, at, err = v.mu.local.get(key)
	case v.mu.v == nil || !v.mu.v.Readable():
		return e, false, fmt.Errorf("view of %q: %w", v.table.Name, ErrViewNotRunning)
	default:
		b, at, err = v.mu.v.GetStamped(key)
	}
	if err != nil {
		return e, false, fmt.Errorf("view of %q: get %q: %w", v.table.Name, key, err)
	}
	if b == nil {
		return e, false, nil
	}
	if e.Value, err = v.table.Codec.Decode(b); err != nil {
		return Entry[T]{}, false, &DecodeError{Topic: v.table.Name, Partition: -1, Offset: -1, Err: err}
	}
	e.AsOf = at
	return e, true, nil
}

// Recovered reports whether the view's local copy has caught up with every
// partition of the changelog once: in this Run, or in an earlier one on the
// same local storage that still holds what it recovered (a partition's
// directory deleted since, and it has not). From then on it stays true while
// Run runs, through reconnects and broker outages, and [View.Get] answers from
// the copy; [View.Freshness] says how current it is. A Run on a recovered copy
// is recovered from its start, whether or not a broker answers. It is false
// outside [View.Run].
func (v *View[T]) Recovered() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.recoveredLocked()
}

func (v *View[T]) recoveredLocked() bool {
	if v.mu.local != nil {
		return true
	}
	gv := v.mu.v
	return gv != nil && (gv.Recovered() || v.fresh.prior.Load() && gv.Readable())
}

// Freshness says how current the view's local copy is: whether it has
// recovered, when it last heard from the broker and how much of what was
// written before then it lacks. Cheap enough to call for every lookup. A Run
// started on a recovered copy while no broker answers reports the last time
// the copy heard from the broker in an earlier Run (so its age keeps
// growing) and a Lag of -1 (unknown) until it hears from it again.
func (v *View[T]) Freshness() Freshness {
	v.mu.RLock()
	defer v.mu.RUnlock()
	f := Freshness{Heard: v.fresh.heardAt(), Lag: -1}
	if v.mu.local != nil {
		f.Recovered = true // Lag stays unknown: the broker was not heard in this Run
		return f
	}
	if v.mu.v == nil {
		return f
	}
	f.Recovered = v.recoveredLocked()
	f.Lag = v.fresh.lag.Load()
	return f
}

// WaitRecovered waits until the view has recovered (see [View.Recovered]) or
// ctx is done, and returns ctx.Err() in that case.
func (v *View[T]) WaitRecovered(ctx context.Context) error {
	const poll = 10 * time.Millisecond
	for !v.Recovered() {
		if !sleep(ctx, poll) {
			return ctx.Err()
		}
	}
	return nil
}
