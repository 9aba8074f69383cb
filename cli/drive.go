package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/topology"
)

// Driver is what an all-in-one command does beside its pipeline: see [Drive].
type Driver struct {
	// Broker, if not nil, runs with the brokers' addresses (the embedded
	// broker's, or those of topology.Brokers) once the graph's topics exist,
	// before the agents have partitions: to print where things are, or to
	// write the tables the agents read.
	Broker func(ctx context.Context, addrs []string) error
	// Ready bounds the wait for every agent to have partitions; 0 means
	// [DefaultDriveReady].
	Ready time.Duration
	// Run runs once every agent has partitions, so that the first records
	// it sends do not wait for consumer groups to form. The pipeline stops
	// when it returns.
	Run func(ctx context.Context, addrs []string) error
}

// DefaultDriveReady is how long [Drive] waits for every agent to have
// partitions unless [Driver.Ready] says otherwise.
const DefaultDriveReady = 2 * time.Minute

// ErrNotReady is wrapped by the error of [Drive] when not every agent had
// partitions within [Driver.Ready].
var ErrNotReady = errors.New("not every agent has partitions")

// Drive runs g with opts and d beside it, until d.Run returns, ctx is done
// or the pipeline fails; then it stops the pipeline and returns the first
// error. An error that only says ctx ended (Ctrl-C) is not one: Drive then
// returns nil.
func Drive(ctx context.Context, g *topology.Graph, d Driver, opts ...topology.Option) error {
	if d.Ready <= 0 {
		d.Ready = DefaultDriveReady
	}
	broker := make(chan []string, 1)
	running := make(chan struct{}) // closed once every agent has partitions
	opts = append(opts,
		topology.OnProvisioned(func(addrs []string) { broker <- addrs }),
		topology.OnReady(func() { close(running) }))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return topology.Run(ctx, g, opts...) })
	eg.Go(func() error {
		defer stop() // done, or failed: either way the pipeline stops
		var addrs []string
		select {
		case addrs = <-broker:
		case <-ctx.Done():
			return nil
		}
		if d.Broker != nil {
			if err := d.Broker(ctx, addrs); err != nil {
				return ignoreStop(ctx, err)
			}
		}
		if err := awaitAgents(ctx, running, d.Ready); err != nil {
			return ignoreStop(ctx, err)
		}
		return ignoreStop(ctx, d.Run(ctx, addrs))
	})
	return eg.Wait()
}

// awaitAgents waits until running is closed, for at most timeout.
func awaitAgents(ctx context.Context, running <-chan struct{}, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-running:
		return nil
	case <-t.C:
		return fmt.Errorf("%w after %v: see the log (--log-level info)", ErrNotReady, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ignoreStop returns nil for an error caused by ctx ending (Ctrl-C), err
// otherwise.
func ignoreStop(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
