package main

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
)

// GenConfig configures a [Generator].
type GenConfig struct {
	// Count is the number of payment requests, one per session.
	Count int
	// Rate is the number of sessions started per second; at least 1.
	Rate int
	// Users is the number of distinct users sessions are drawn from.
	Users int
	// Fraud is the share of fraud-ish users, in percent (0-100): accounts in
	// the wrong hands, whose every session is fraud-ish.
	Fraud float64
	// Seed seeds the generator: the same config gives the same events.
	Seed uint64
	// Prefix starts every request and transaction ID.
	Prefix string
}

// ErrGenConfig is returned by [NewGenerator], wrapped with what to fix.
var ErrGenConfig = errors.New("invalid generator config")

// Event is one record the generator writes: exactly one of Click, Txn and
// Request is set. At is when, after the start, it is written.
type Event struct {
	At      time.Duration
	User    string
	Session int // the session's number, that of its request, from 1
	Click   *Click
	Txn     *Txn
	Request *inference.Request
	// Fraud is the generator's label of the session the event belongs to. The
	// model never sees it; the summary compares scores with it.
	Fraud bool
}

// Generator produces the events of payment sessions in the order of their
// times. A session of a user is a few clicks, then one or two transactions,
// then, about a second later (a checkout comes after browsing, and the
// features need a moment to reach the store), a payment request. A session of
// a fraud-ish user (an account in the wrong hands) is a burst of 15-40 clicks
// and 3-8 high-value transactions in quick succession, then a large payment.
// Sessions start every 1/Rate seconds and overlap; users are drawn uniformly,
// so a user may have several sessions in a run.
type Generator struct {
	c       GenConfig
	rng     *rand.Rand
	fraud   []bool     // by user number: the fraud-ish users
	started int        // sessions generated so far
	pending eventQueue // generated events not yet returned
	seq     int        // events generated, for IDs and a stable order
}

// NewGenerator checks c and returns its generator.
func NewGenerator(c GenConfig) (*Generator, error) {
	switch {
	case c.Count < 0:
		return nil, fmt.Errorf("count %d: want 0 or more: %w", c.Count, ErrGenConfig)
	case c.Rate < 1:
		return nil, fmt.Errorf("rate %d: want at least 1 request a second: %w", c.Rate, ErrGenConfig)
	case c.Users < 1:
		return nil, fmt.Errorf("users %d: want at least 1: %w", c.Users, ErrGenConfig)
	case !(c.Fraud >= 0 && c.Fraud <= 100):
		return nil, fmt.Errorf("fraud %v: want a percentage from 0 to 100: %w", c.Fraud, ErrGenConfig)
	}
	g := &Generator{c: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x5eed)), fraud: make([]bool, c.Users)}
	for i := range g.fraud {
		g.fraud[i] = g.rng.Float64()*100 < c.Fraud
	}
	return g, nil
}

// Next returns the next event in time order, and false after the last.
func (g *Generator) Next() (Event, bool) {
	// A session's events are at or after its start, and sessions start in
	// order: once the next session starts after the earliest pending event,
	// no later session can produce an earlier one.
	for g.started < g.c.Count && (len(g.pending) == 0 || g.start(g.started) <= g.pending[0].At) {
		g.session()
	}
	if len(g.pending) == 0 {
		return Event{}, false
	}
	return heap.Pop(&g.pending).(queued).Event, true
}

// start returns the start of session i.
func (g *Generator) start(i int) time.Duration {
	return time.Duration(i) * time.Second / time.Duration(g.c.Rate)
}

var (
	pages     = []string{"/", "/search", "/product", "/cart", "/account", "/help"}
	merchants = []string{"grocer", "bookshop", "cafe", "pharmacy", "fuel", "cinema"}
	riskyShop = []string{"electronics", "giftcards", "jewellery", "crypto-exchange"}
)

// session generates session g.started and queues its events.
func (g *Generator) session() {
	r := g.rng
	at := g.start(g.started)
	g.started++
	u := r.IntN(g.c.Users)
	user, fraud := fmt.Sprintf("u%05d", u), g.fraud[u]
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Millisecond }
	push := func(e Event) {
		e.User, e.Session, e.Fraud = user, g.started, fraud
		heap.Push(&g.pending, queued{Event: e, seq: g.seq})
		g.seq++
	}
	var clicks, txns int
	var gap [2]int // click gap in ms
	var amount func() float64
	var shops []string
	if fraud {
		clicks, txns, gap = 15+r.IntN(26), 3+r.IntN(6), [2]int{20, 80}
		amount = func() float64 { return 300 + r.Float64()*2700 }
		shops = riskyShop
	} else {
		clicks, txns, gap = 1+r.IntN(6), 1+r.IntN(2), [2]int{100, 500}
		amount = func() float64 {
			if r.IntN(100) == 0 {
				return 500 + r.Float64()*1500 // now and then a big purchase
			}
			return math.Min(5+math.Exp(3.5+0.8*r.NormFloat64()), 400) // mostly tens
		}
		shops = merchants
	}
	for range clicks {
		push(Event{At: at, Click: &Click{User: user, Page: pages[r.IntN(len(pages))]}})
		at += ms(gap[0], gap[1])
	}
	for range txns {
		push(Event{At: at, Txn: &Txn{ID: fmt.Sprintf("%s-t%d", g.c.Prefix, g.seq), User: user,
			Amount: cents(amount()), Merchant: shops[r.IntN(len(shops))]}})
		at += ms(50, 200)
	}
	// The payment comes a moment after the session's activity, as a checkout
	// does; its features are those of the activity before it.
	at += ms(800, 1500)
	p := Payment{Amount: cents(amount()), Merchant: shops[r.IntN(len(shops))]}
	if fraud {
		p.Amount = cents(500 + r.Float64()*4500)
	}
	payload, _ := json.Marshal(p) // two plain fields: cannot fail
	push(Event{At: at, Request: &inference.Request{ID: fmt.Sprintf("%s-%06d", g.c.Prefix, g.started), Entity: user, Payload: payload}})
}

// cents rounds x to two decimals.
func cents(x float64) float64 { return math.Round(x*100) / 100 }

// queued is an event in the generator's queue; seq breaks ties of At in the
// order events were generated, so the order is deterministic.
type queued struct {
	Event
	seq int
}

// eventQueue is a min-heap of events by time.
type eventQueue []queued

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].At != q[j].At {
		return q[i].At < q[j].At
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// emitters write the generator's events, one typed emitter per stream.
type emitters struct {
	clicks   *topology.Emitter[Click]
	txns     *topology.Emitter[Txn]
	requests *topology.Emitter[inference.Request]
}

func newEmitters(opts ...topology.Option) (*emitters, error) {
	var e emitters
	var err error
	if e.clicks, err = topology.NewEmitter(Clicks, opts...); err != nil {
		return nil, err
	}
	if e.txns, err = topology.NewEmitter(Txns, opts...); err != nil {
		return nil, errors.Join(err, e.clicks.Close())
	}
	if e.requests, err = topology.NewEmitter(Requests, opts...); err != nil {
		return nil, errors.Join(err, e.clicks.Close(), e.txns.Close())
	}
	return &e, nil
}

// send writes e without waiting; a failed write surfaces at close.
func (em *emitters) send(e Event) error {
	switch {
	case e.Click != nil:
		return em.clicks.Send(e.User, *e.Click)
	case e.Txn != nil:
		return em.txns.Send(e.User, *e.Txn)
	case e.Request != nil:
		return em.requests.Send(e.User, *e.Request)
	}
	return fmt.Errorf("event at %v for %q has no record", e.At, e.User)
}

// close flushes and closes the emitters, returning every failed write.
func (em *emitters) close() error {
	return errors.Join(em.clicks.Close(), em.txns.Close(), em.requests.Close())
}

// Produce writes g's events on time: each At after the call, through emitters
// for the cluster opts name (see topology.NewEmitter). sent, if not nil, is
// called with each request just before it is written. Produce returns when
// every event is acknowledged, with the first failure, or ctx.Err() if ctx is
// done first.
func Produce(ctx context.Context, g *Generator, sent func(Event, time.Time), opts ...topology.Option) (err error) {
	em, err := newEmitters(opts...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, em.close()) }()
	timer := time.NewTimer(time.Hour) // reset before each wait
	defer timer.Stop()
	start := time.Now()
	for {
		e, ok := g.Next()
		if !ok {
			return nil
		}
		if wait := e.At - time.Since(start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.Request != nil && sent != nil {
			sent(e, time.Now())
		}
		if err := em.send(e); err != nil {
			return err
		}
	}
}
