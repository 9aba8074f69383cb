package gokax

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lovoo/goka"
)

// Processor is one goka processor built from a [Group]. Run it once.
//
// The processor reads its lookup tables through views of its own rather than
// goka's: goka closes a lookup view as soon as its processor's context ends,
// while partition processors may still be in a callback that reads it (in
// goka v1.1.17 View.close writes the partitions View.Get reads; the race
// detector stopped a visa level with it at SIGTERM, and a processor that
// failed by itself raced the same way). The processor's views start before it
// and stop after it, so no lookup can meet a closed view.
type Processor struct {
	p         *goka.Processor
	consumers *consumers
	views     map[string]*View // of the lookup tables, by table
	kp        *kproc
}

// NewProcessor builds the goka processor of g in the mode o asks for (see
// [mode]). goka checks that every topic exists (sluice provisions them
// beforehand; goka is told not to create any), so this dials the brokers.
func NewProcessor(g Group, o Options) (*Processor, error) {
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("group %q: %w", g.Name, errNoInputs)
	}
	cfg, logger := o.config(), o.logger()
	md := newMode(g.Name, o, logger)
	m := msgTemplate(g)
	gg, err := g.define(func(f func(m *Msg, value []byte)) goka.ProcessCallback { return md.callback(m, f) })
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	cons := new(consumers)
	table := string(goka.GroupTable(gg.Group()))
	popts, kp := processorOptions(g.Name, table, o, cfg, logger, md, cons)
	p, err := goka.NewProcessor(o.Brokers, gg, popts...)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	for _, t := range g.Lookups {
		v, err := NewView(t, o)
		if err != nil {
			for _, v := range m.lookups {
				err = errors.Join(err, v.clients.closeAll())
			}
			return nil, errors.Join(fmt.Errorf("group %q: lookup table: %w", g.Name, err), cons.closeAll())
		}
		m.lookups[t] = v // every callback's Msg shares the map
	}
	return &Processor{p: p, consumers: cons, views: m.lookups, kp: kp}, nil
}

// Run runs the processor until ctx is done or it fails. It returns nil after a
// shutdown caused by ctx. Its lookup tables' views run from before it starts,
// once they have recovered, until after it stopped; a view that fails stops
// it. When the broker refused its consumer group for a reason only
// configuration can fix, it returns that error alone, wrapping
// [ErrGroupRefused]; when the cluster's ACLs denied it an operation for
// longer than Consumer.Group.Rebalance.Timeout, wrapping
// [ErrNotAuthorized].
func (p *Processor) Run(ctx context.Context) error {
	vctx, stopViews := context.WithCancel(context.WithoutCancel(ctx))
	viewErr := make(chan error, len(p.views))
	var wg sync.WaitGroup
	for t, v := range p.views {
		wg.Go(func() {
			err := v.Run(vctx)
			if err == nil && vctx.Err() == nil {
				err = errViewStopped // it reconnects by itself: only local storage stops it
			}
			if err != nil {
				viewErr <- fmt.Errorf("view of lookup table %q: %w", t, err)
			}
		})
	}
	defer wg.Wait()
	defer stopViews()
	if err := p.awaitViews(ctx, viewErr); err != nil {
		return errors.Join(ignoreStop(ctx, err), p.consumers.closeAll())
	}

	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case err := <-viewErr:
			cancel(err)
		case <-vctx.Done():
		}
	}()
	err := p.p.Run(gctx)
	if cause := context.Cause(gctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = errors.Join(cause, err) // a view failed
	}
	if refusal := p.kp.refusal(); refusal != nil {
		err = refusal // goka's error wraps it in its own words, over lines
	}
	return errors.Join(ignoreStop(ctx, err), p.consumers.closeAll())
}

// awaitViews waits until every lookup view has recovered, one fails, or ctx is
// done.
func (p *Processor) awaitViews(ctx context.Context, viewErr <-chan error) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		recovered := true
		for _, v := range p.views {
			recovered = recovered && v.Recovered()
		}
		if recovered {
			return nil
		}
		select {
		case err := <-viewErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ignoreStop returns nil for an error that only says ctx ended.
func ignoreStop(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// WaitForReady waits until the processor has recovered its tables and consumes its
// inputs, or has stopped, or ctx is done.
func (p *Processor) WaitForReady(ctx context.Context) error { return p.p.WaitForReadyContext(ctx) }

// Recovered reports whether every table partition of the processor has recovered.
func (p *Processor) Recovered() bool { return p.p.Recovered() }

// Get returns the table value of key if this instance holds its partition.
func (p *Processor) Get(key string) ([]byte, error) {
	v, err := p.p.Get(key)
	if err != nil {
		return nil, err
	}
	return asBytes(v)
}
