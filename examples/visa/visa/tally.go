package visa

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// Tally follows one run of the pipeline: the generator tells it each record it
// sent ([Tally.Sent]), and its watcher agent ([Tally.Watcher]) each final decision
// and dead letter of those records. Records of other runs are ignored. A Tally is
// safe for concurrent use.
type Tally struct {
	mu struct {
		sync.Mutex
		start     time.Time         // of the first record sent
		sent      map[string]string // application ID -> visa type, "" if malformed
		sealed    bool              // no more records will be sent
		decided   map[string]FinalDecision
		dead      map[string]string // application ID -> dead-letter topic
		dups      int
		lastFinal time.Time

		// From the desk's events (see [Tally.DeskWatcher]):
		review    map[string]bool   // awaiting review now
		sla       map[string]string // application ID -> the level whose SLA it exceeded
		escalated map[string]bool   // reviews escalated
		late      int               // late answers
		deskOn    bool              // a DeskWatcher reports to the tally
	}
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	t := &Tally{}
	t.mu.sent = map[string]string{}
	t.mu.decided = map[string]FinalDecision{}
	t.mu.dead = map[string]string{}
	t.mu.review = map[string]bool{}
	t.mu.sla = map[string]string{}
	t.mu.escalated = map[string]bool{}
	return t
}

// Sent records that it was sent; pass it to [Produce].
func (t *Tally) Sent(it Item) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.start.IsZero() {
		t.mu.start = time.Now()
	}
	typ := it.App.VisaType
	if it.Raw != nil {
		typ = ""
	}
	t.mu.sent[it.ID] = typ
}

// Seal records that every record was sent: once each has an outcome, the run is
// [Tally.Done].
func (t *Tally) Seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mu.sealed = true
}

// Watcher returns the agent that reports to t: it reads [Final] and the
// dead-letter topics of the levels named, and keeps nothing but t.
func (t *Tally) Watcher(levels ...string) topology.Agent[struct{}] {
	a := topology.Agent[struct{}]{
		Name: "visa-watch",
		Inputs: []topology.Input[struct{}]{topology.Consume(Final,
			func(_ *topology.Context[struct{}], id string, d FinalDecision) error {
				t.final(id, d)
				return nil
			})},
	}
	for _, l := range levels {
		dlq := DeadLetters(l)
		a.Inputs = append(a.Inputs, topology.Consume(dlq,
			func(_ *topology.Context[struct{}], id string, _ []byte) error {
				t.deadLetter(id, dlq.Name)
				return nil
			}))
	}
	return a
}

// DeskWatcher returns the agent that reports the desk's events to t (see
// [Options]): applications awaiting review count as having an outcome, and the
// summary counts SLAs exceeded, escalations and late answers.
func (t *Tally) DeskWatcher() topology.Agent[struct{}] {
	t.mu.Lock()
	t.mu.deskOn = true
	t.mu.Unlock()
	return topology.Agent[struct{}]{
		Name: "visa-watch-desk",
		Inputs: []topology.Input[struct{}]{topology.Consume(DeskEvents,
			func(_ *topology.Context[struct{}], id string, e DeskEvent) error {
				t.desk(id, e)
				return nil
			})},
	}
}

func (t *Tally) desk(id string, e DeskEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.mu.sent[id]; !ok {
		return
	}
	switch e.Kind {
	case KindAwaitingReview:
		if _, decided := t.mu.decided[id]; !decided {
			t.mu.review[id] = true
		}
	case KindReviewed:
		delete(t.mu.review, id)
	case KindSLAExceeded:
		t.mu.sla[id] = e.Level
	case KindReviewEscalated:
		t.mu.escalated[id] = true
	case KindLateAnswer:
		t.mu.late++
	}
}

func (t *Tally) final(id string, d FinalDecision) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.mu.sent[id]; !ok {
		return // another run's, or produced by someone else
	}
	if _, ok := t.mu.decided[id]; ok {
		t.mu.dups++
		return
	}
	t.mu.decided[id] = d
	delete(t.mu.review, id)
	t.mu.lastFinal = time.Now()
}

func (t *Tally) deadLetter(id, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.mu.sent[id]; !ok {
		return
	}
	if _, ok := t.mu.dead[id]; ok {
		t.mu.dups++
		return
	}
	t.mu.dead[id] = topic
}

// Progress is a snapshot of a run.
type Progress struct {
	Sent, Decided, DeadLettered, Duplicates int
	// AwaitingReview counts applications in the desk's review table (see
	// [Options]): they have an outcome for now, a reviewer's to come.
	AwaitingReview int
	// ByDecision counts the final decisions by decision.
	ByDecision map[string]int
	// Done is true when every record was sent and has an outcome.
	Done bool
}

// Progress returns where the run is.
func (t *Tally) Progress() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := Progress{
		Sent: len(t.mu.sent), Decided: len(t.mu.decided), DeadLettered: len(t.mu.dead),
		Duplicates: t.mu.dups, ByDecision: map[string]int{}, AwaitingReview: len(t.mu.review),
	}
	for _, d := range t.mu.decided {
		p.ByDecision[d.Decision]++
	}
	p.Done = t.mu.sealed && t.accountedLocked() == len(t.mu.sent)
	return p
}

// accountedLocked counts the records sent that have an outcome: a final
// decision, a dead letter, or a place in the review table.
func (t *Tally) accountedLocked() int {
	n := len(t.mu.decided)
	for id := range t.mu.dead {
		if _, ok := t.mu.decided[id]; !ok {
			n++
		}
	}
	for id := range t.mu.review {
		_, decided := t.mu.decided[id]
		_, dead := t.mu.dead[id]
		if !decided && !dead {
			n++
		}
	}
	return n
}

// String returns the progress as one line: "sent 300 | decided 280: approved 230,
// rejected 40, needs_review 10 | dead letters 5 | in flight 15".
func (p Progress) String() string {
	var b strings.Builder
	b.WriteString("sent ")
	b.WriteString(itoa(p.Sent))
	b.WriteString(" | decided ")
	b.WriteString(itoa(p.Decided))
	for i, d := range decisionOrder(p.ByDecision) {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(d + " " + itoa(p.ByDecision[d]))
	}
	b.WriteString(" | dead letters " + itoa(p.DeadLettered))
	if p.AwaitingReview > 0 {
		b.WriteString(" | awaiting review " + itoa(p.AwaitingReview))
	}
	b.WriteString(" | in flight " + itoa(p.Sent-p.Decided-p.DeadLettered-p.AwaitingReview))
	if p.Duplicates > 0 {
		b.WriteString(" | duplicates " + itoa(p.Duplicates))
	}
	return b.String()
}

// decisionOrder returns the decisions of m, the known ones first in a fixed order.
func decisionOrder[V any](m map[string]V) []string {
	var out []string
	for _, d := range []string{Approved, Rejected, NeedsReview} {
		if _, ok := m[d]; ok {
			out = append(out, d)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
