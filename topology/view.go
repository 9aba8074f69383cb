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
// agent reads other tables with [Lookup] and [Join] instead.
//
// A View does not depend on the agent that owns the table: it keeps answering
// from its copy while the agent restarts, and sees the agent's writes again once
// it is back. Its local storage survives its own restarts, so it recovers only
// what it missed.
//
// A View is safe for concurrent use.
type View[T any] struct {
	table Table[T]
	c     *runConfig

	mu struct {
		sync.RWMutex
		v       *gokax.View // set while Run runs
		started bool
	}
}

// NewView returns a view of t for the cluster named by [Brokers] (required).
// The other options that apply are [DataDir] (its storage is
// DataDir/views/TABLE; two views of one table must not share a DataDir),
// [KafkaConfig], [WithSecurity], [WithLogger] and [ExactlyOnce] (read committed updates only:
// use it for tables of agents in that mode). NewView validates and does not dial: [View.Run]
// connects. It fails with [ErrNoName], [ErrNoCodec] or [ErrNoBrokers].
func NewView[T any](t Table[T], opts ...Option) (*View[T], error) {
	c := newRunConfig(opts)
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

// Run connects the view, recovers the table into local storage and follows its
// changelog until ctx is done. Broker errors do not stop it: it reconnects, and
// [View.Get] answers from local storage meanwhile. It returns nil after a
// shutdown caused by ctx, and an error if the view could not be built (the
// table's topic does not exist, no broker answered) or its storage failed.
// Every goroutine Run started has exited, and local storage is closed, when it
// returns. Run fails with [ErrViewRunning] while another call runs; after one
// returned, Run may be called again, and resumes from local storage.
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

	gv, err := gokax.NewView(v.table.Name, gokax.Options{
		Brokers: v.c.brokers,
		Config:  v.c.kafka,
		Storage: v.c.storageBuilder(filepath.Join(v.c.dataDir, "views", v.table.Name)),
		Logger:  v.c.logger,
	}.WithExactlyOnce(v.c.exactlyOnce))
	if err != nil {
		return checkConnection(err)
	}
	// goka's view closes its storage when its Run returns; Get must not reach it
	// then. Run stops goka only after taking the lock from every Get in flight.
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gv.Run(gctx) }()
	v.mu.Lock()
	v.mu.v = gv
	v.mu.Unlock()

	select {
	case <-ctx.Done():
	case err = <-done: // storage failed: goka stopped by itself
	}
	v.mu.Lock()
	v.mu.v = nil
	v.mu.Unlock()
	cancel()
	if err == nil {
		err = <-done
	}
	if err != nil {
		return fmt.Errorf("view of %q: %w", v.table.Name, err)
	}
	return nil
}

// Get returns the value of key, decoded with the table's codec; ok is false if
// the table has no value for key. Before the view has recovered, Get answers
// from what it has so far (see [View.WaitRecovered]). It fails with
// [ErrViewNotRunning] outside [View.Run] and with a [*DecodeError] for a value
// the codec rejects.
func (v *View[T]) Get(key string) (val T, ok bool, err error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.mu.v == nil {
		return val, false, fmt.Errorf("view of %q: %w", v.table.Name, ErrViewNotRunning)
	}
	b, err := v.mu.v.Get(key)
	if err != nil {
		return val, false, fmt.Errorf("view of %q: get %q: %w", v.table.Name, key, err)
	}
	if b == nil {
		return val, false, nil
	}
	if val, err = v.table.Codec.Decode(b); err != nil {
		return val, false, &DecodeError{Topic: v.table.Name, Partition: -1, Offset: -1, Err: err}
	}
	return val, true, nil
}

// Recovered reports whether the view has caught up with every partition of the
// changelog since Run started. It stays true while the view reconnects.
func (v *View[T]) Recovered() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.mu.v != nil && v.mu.v.Recovered()
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
