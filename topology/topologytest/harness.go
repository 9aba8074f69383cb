package topologytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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

type options struct {
	harness.Config
	start time.Time
}

// DefaultStart is where a harness's clock starts unless [Clock] says
// otherwise: a fixed time, so that what agents compute from it is the same in
// every run.
var DefaultStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock sets the time the harness's clock starts at, overriding
// [DefaultStart]. Agents read the clock with topology's Context.Now; it
// moves only with [Advance].
func Clock(start time.Time) Option {
	return func(o *options) { o.start = start }
}

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

	// now is the fake clock (see [Advance]); loops are the agents' loop topics
	// with their timers, for agents that have timers.
	now   atomic.Pointer[time.Time] // read by agents in goka's goroutines
	loops []harness.Agent

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
// test feeds them synchronously, in the test's goroutine's time. A graph's
// Application does not apply: tables, dead letters and timers have the names
// of the default namespace ([topology.TableName] and the like).
func New(t T, g *topology.Graph, opts ...Option) *Harness {
	t.Helper()
	c := options{start: DefaultStart}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	h := &Harness{
		t:        t,
		agents:   map[string]bool{},
		inputs:   map[string]bool{},
		outputs:  map[string]bool{},
		tables:   map[string]bool{},
		trackers: map[string]*tester.QueueTracker{},
	}
	h.now.Store(&c.start)
	c.Now = h.clock
	// The tester has no cluster to share: the graph runs in the default
	// namespace, so that its tables and dead letters have the names the
	// agents' own declarations give them.
	if g != nil && g.Application != "" {
		local := *g
		local.Application = ""
		g = &local
	}
	agents, err := harness.Groups(g, c.Config)
	if err != nil {
		t.Fatalf("topologytest: New: %v", err)
	}
	h.graph, h.tt = g.Name, tester.New(t)
	procs := make([]*gokax.Processor, len(agents))
	for i, a := range agents {
		h.index(a.Group)
		if a.Due != nil {
			h.loops = append(h.loops, a)
		}
		p, err := gokax.NewProcessor(a.Group, gokax.Options{Tester: h.tt, Logger: c.Logger})
		if err != nil {
			t.Fatalf("topologytest: New: agent %q: %v", a.Group.Name, err)
		}
		procs[i] = p
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	t.Cleanup(h.stop)
	for i, p := range procs {
		name := agents[i].Group.Name
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
