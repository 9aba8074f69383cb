package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
)

// buckets is the number of score buckets of the histogram, each 1/buckets wide.
const buckets = 10

// Tally follows the requests the generator sends and the predictions the
// scorer emits for them: counts, score distribution, latency. It is safe for
// concurrent use.
type Tally struct {
	mu struct {
		sync.Mutex
		sent       map[string]*request
		order      int // requests sent
		sealed     bool
		scored     int
		duplicates int
		flagged    int
		others     int // predictions of requests this run did not send
		hist       [buckets]int
		latency    []time.Duration
		labels     [2]label // normal, fraud-ish
		lookups    []time.Duration
		looked     [lookupOutcomes]int
	}
}

// lookupOutcome is how a lookup of a user's features went.
type lookupOutcome int

const (
	lookupFound   lookupOutcome = iota // 200: the user's vector
	lookupMissing                      // 404: no features of the user yet
	lookupFailed                       // any other answer, or none
	lookupSkipped                      // not made: the probe's queue was full
	lookupOutcomes
)

// Looked records a lookup of a user's features from the lookup service that
// took d.
func (t *Tally) Looked(d time.Duration, o lookupOutcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.looked[o]++
	if o == lookupFound || o == lookupMissing {
		t.mu.lookups = append(t.mu.lookups, d)
	}
}

// request is what the tally knows of one request sent.
type request struct {
	sentAt time.Time
	fraud  bool
	scored bool
}

// label accumulates the scores of the requests of one generator label.
type label struct {
	n, high int // requests scored, and those scored >= 0.5
	sum     float64
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	t := new(Tally)
	t.mu.sent = map[string]*request{}
	return t
}

// Sent records that the request of e is written at time at.
func (t *Tally) Sent(e Event, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.sent[e.Request.ID] = &request{sentAt: at, fraud: e.Fraud}
	t.mu.order++
}

// Seal records that every request was sent: once all are scored, the tally is
// done.
func (t *Tally) Seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.sealed = true
}

// Scored records prediction p, read at time at.
func (t *Tally) Scored(p inference.Prediction, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.mu.sent[p.RequestID]
	switch {
	case !ok:
		t.mu.others++
		return
	case r.scored:
		t.mu.duplicates++ // at-least-once: a replay after a crash
		return
	}
	r.scored = true
	t.mu.scored++
	if p.Flagged {
		t.mu.flagged++
	}
	b := min(max(int(p.Score*buckets), 0), buckets-1)
	t.mu.hist[b]++
	t.mu.latency = append(t.mu.latency, at.Sub(r.sentAt))
	l := &t.mu.labels[0]
	if r.fraud {
		l = &t.mu.labels[1]
	}
	l.n++
	l.sum += p.Score
	if p.Score >= 0.5 {
		l.high++
	}
}

// Watcher returns a stateless agent, named fraud-watcher, that reads the
// predictions into t.
func (t *Tally) Watcher() topology.Agent[struct{}] {
	return topology.Agent[struct{}]{
		Name: "fraud-watcher",
		Inputs: []topology.Input[struct{}]{
			topology.Consume(Predictions, func(_ *topology.Context[struct{}], _ string, p inference.Prediction) error {
				t.Scored(p, time.Now())
				return nil
			}),
		},
	}
}

// Done reports whether every request was sent and scored. It is cheaper than
// [Tally.Stats], which sorts the latencies.
func (t *Tally) Done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.sealed && t.mu.scored == t.mu.order
}

// Stats is a snapshot of a [Tally].
type Stats struct {
	Sent, Scored, Duplicates, Flagged, Others int
	// Done is set once every request was sent and scored.
	Done bool
	// Hist counts the scores in [i/10, (i+1)/10), the last bucket including 1.
	Hist [buckets]int
	// P50, P99 and Max are the latencies from sending a request to reading
	// its prediction.
	P50, P99, Max time.Duration
	// Normal and Fraud aggregate the scores by the generator's label.
	Normal, Fraud LabelStats
	// Lookups counts the lookups of users' features from the lookup service
	// by outcome; LookupP50, LookupP99 and LookupMax are the latencies of
	// those answered (found or not).
	Lookups                         [lookupOutcomes]int
	LookupP50, LookupP99, LookupMax time.Duration
}

// LabelStats are the scores of the requests of one generator label.
type LabelStats struct {
	N, High int // scored, and scored >= 0.5
	Mean    float64
}

// Stats returns a snapshot of t.
func (t *Tally) Stats() Stats {
	t.mu.Lock()
	s := Stats{
		Sent: t.mu.order, Scored: t.mu.scored, Duplicates: t.mu.duplicates,
		Flagged: t.mu.flagged, Others: t.mu.others, Hist: t.mu.hist,
		Done:   t.mu.sealed && t.mu.scored == t.mu.order,
		Normal: t.mu.labels[0].stats(), Fraud: t.mu.labels[1].stats(),
	}
	lat := slices.Clone(t.mu.latency)
	s.Lookups = t.mu.looked
	looks := slices.Clone(t.mu.lookups)
	t.mu.Unlock()
	s.P50, s.P99, s.Max = quantiles(lat)
	s.LookupP50, s.LookupP99, s.LookupMax = quantiles(looks)
	return s
}

// quantiles sorts d and returns its median, 99th percentile and maximum.
func quantiles(d []time.Duration) (p50, p99, maxd time.Duration) {
	slices.Sort(d)
	if len(d) > 0 {
		maxd = d[len(d)-1]
	}
	return quantile(d, 0.50), quantile(d, 0.99), maxd
}

func (l label) stats() LabelStats {
	s := LabelStats{N: l.n, High: l.high}
	if l.n > 0 {
		s.Mean = l.sum / float64(l.n)
	}
	return s
}

// quantile returns the q-quantile of sorted by the nearest-rank method, 0 for
// none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1 // ceil(n*q) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// Progress returns the one-line live summary: requests sent and scored, the
// score distribution in four bands, latency.
func (s Stats) Progress() string {
	var band [4]int // < 0.1, < 0.5, < 0.9, >= 0.9
	for i, n := range s.Hist {
		switch {
		case i < 1:
			band[0] += n
		case i < 5:
			band[1] += n
		case i < 9:
			band[2] += n
		default:
			band[3] += n
		}
	}
	line := fmt.Sprintf("sent %d | scored %d (flagged %d) | scores <0.1 %d, <0.5 %d, <0.9 %d, >=0.9 %d | latency p50 %s p99 %s | in flight %d",
		s.Sent, s.Scored, s.Flagged, band[0], band[1], band[2], band[3], ms(s.P50), ms(s.P99), s.Sent-s.Scored)
	if n := s.Lookups[lookupFound] + s.Lookups[lookupMissing]; n > 0 {
		line += fmt.Sprintf(" | lookups %d p50 %s p99 %s", n, msFine(s.LookupP50), msFine(s.LookupP99))
	}
	return line
}

// msFine formats d in milliseconds with the precision a lookup needs.
func msFine(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// WriteSummary writes the final summary.
func (s Stats) WriteSummary(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d requests sent, %d scored, %d missing, %d duplicates, %d flagged (scored before all their features were in)\n",
		s.Sent, s.Scored, s.Sent-s.Scored, s.Duplicates, s.Flagged)
	fmt.Fprintf(&b, "score distribution\n")
	most := slices.Max(s.Hist[:])
	for i, n := range s.Hist {
		bar := 0
		if most > 0 {
			bar = (n*40 + most - 1) / most
		}
		hi := ")"
		if i == buckets-1 {
			hi = "]"
		}
		fmt.Fprintf(&b, "  [%.1f, %.1f%s %6d  %s\n", float64(i)/buckets, float64(i+1)/buckets, hi, n, strings.Repeat("#", bar))
	}
	fmt.Fprintf(&b, "by the generator's label (the model never sees it)\n")
	for _, l := range []struct {
		name string
		s    LabelStats
	}{{"normal   ", s.Normal}, {"fraud-ish", s.Fraud}} {
		fmt.Fprintf(&b, "  %s %6d requests, mean score %.3f, scored >= 0.5: %d\n", l.name, l.s.N, l.s.Mean, l.s.High)
	}
	fmt.Fprintf(&b, "latency, request sent -> prediction read: p50 %s, p99 %s, max %s (%d requests)\n", ms(s.P50), ms(s.P99), ms(s.Max), s.Scored)
	if l := s.Lookups; l != [lookupOutcomes]int{} {
		fmt.Fprintf(&b, "latency, lookup service GET /features/{user} as each request was sent: p50 %s, p99 %s, max %s (%d lookups: %d found, %d before the user had features, %d failed, %d skipped)\n",
			msFine(s.LookupP50), msFine(s.LookupP99), msFine(s.LookupMax), l[lookupFound]+l[lookupMissing], l[lookupFound], l[lookupMissing], l[lookupFailed], l[lookupSkipped])
	}
	if s.Others > 0 {
		fmt.Fprintf(&b, "(%d predictions of requests from earlier runs ignored)\n", s.Others)
	}
	io.WriteString(w, b.String())
}
