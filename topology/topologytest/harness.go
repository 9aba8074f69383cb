package topologytest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lovoo/goka/tester"

	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/internal/harness"
)

// T is the part of *testing.T (and *testing.B, testing.TB) a [Harness] uses.
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
}

// An Option configures [New].
type Option func(*options)

type options struct{ harness.Config }

// Retries sets how many times a failed handler call is retried before the record
// goes to the dead-letter topic, overriding the default 0. Retries do not wait:
// unlike [topology.Retries] there is no backoff.
func Retries(n int) Option {
	return func(o *options) { o.Retries = max(n, 0) }
}

// Harness runs every agent of a graph on goka's tester. Create one with [New];
// feed it with [Consume] and [ConsumeRaw]; read what the agents did with
// [Output], [DeadLetters] and [TableValue].
//
// A Harness belongs to the test goroutine that created it.
type Harness struct {
	t     T
	graph string
	tt    *tester.Tester

	agents  map[string]bool
	inputs  map[string]bool // topics some agent reads
	outputs map[string]bool // topics some agent may emit to, dead-letter topics included
	tables  map[string]bool // tables some agent owns, looks up or joins
	// trackers read each output topic from where the last Output or DeadLetters
	// call stopped.
	trackers map[string]*tester.QueueTracker

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error // the first error a processor stopped with
	reported bool
}

// New starts every agent of g on goka's tester, each a goka processor built by
// the same code as [topology.Run] builds it (decoding, retries, dead letters,
// buffered effects), and stops them when the test ends. It fails the test if g is
// invalid (see [topology.Graph.Validate]) or an agent does not start.
//
// The tester has no broker and one partition per topic: agents process what the
// test feeds them synchronously, in the test's goroutine's time.
func New(t T, g *topology.Graph, opts ...Option) *Harness {
	t.Helper()
	var c options
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	groups, err := harness.Groups(g, c.Config)
	if err != nil {
		t.Fatalf("topologytest: New: %v", err)
	}
	h := &Harness{
		t:        t,
		graph:    g.Name,
		tt:       tester.New(t),
		agents:   map[string]bool{},
		inputs:   map[string]bool{},
		outputs:  map[string]bool{},
		tables:   map[string]bool{},
		trackers: map[string]*tester.QueueTracker{},
	}
	procs := make([]*gokax.Processor, len(groups))
	for i, gr := range groups {
		h.index(gr)
		p, err := gokax.NewProcessor(gr, gokax.Options{Tester: h.tt, Logger: c.Logger})
		if err != nil {
			t.Fatalf("topologytest: New: agent %q: %v", gr.Name, err)
		}
		procs[i] = p
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	t.Cleanup(h.stop)
	for i, p := range procs {
		name := groups[i].Name
		h.wg.Go(func() {
			if err := p.Run(ctx); err != nil {
				h.mu.Lock()
				h.err = errors.Join(h.err, fmt.Errorf("agent %q stopped: %w", name, err))
				h.mu.Unlock()
			}
		})
	}
	for _, p := range procs {
		if err := p.WaitForReady(ctx); err != nil {
			t.Fatalf("topologytest: New: %v", err)
		}
	}
	h.check("New")
	return h
}

// index records the topics of one agent's group.
func (h *Harness) index(g gokax.Group) {
	h.agents[g.Name] = true
	for _, in := range g.Inputs {
		h.inputs[in.Topic] = true
	}
	for _, o := range g.Outputs {
		h.outputs[o] = true
	}
	if g.Stateful {
		h.tables[topology.TableName(g.Name)] = true
	}
	for _, t := range g.Lookups {
		h.tables[t] = true
	}
	for _, t := range g.Joins {
		h.tables[t] = true
	}
}

// check fails the test if a processor has stopped: the tester would wait for it
// forever.
func (h *Harness) check(op string) {
	h.t.Helper()
	h.mu.Lock()
	err := h.err
	if err != nil {
		h.reported = true
	}
	h.mu.Unlock()
	if err != nil {
		h.t.Fatalf("topologytest: %s: %v", op, err)
	}
}

// stop stops the processors and waits for them.
func (h *Harness) stop() {
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil && !h.reported {
		h.t.Errorf("topologytest: %v", h.err)
	}
}

// fatalf fails the test with a message prefixed by the harness function's name.
func (h *Harness) fatalf(op, format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("topologytest: %s: %s", op, fmt.Sprintf(format, args...))
}
