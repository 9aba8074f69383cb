package visa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// level is the runtime of one level's agent.
type level struct {
	Level
	decider Decider
	// names are the pipeline's topic and agent names: production's, or a
	// shadow run's. Routing slips hold production's queue names either way.
	names Names
	// concurrency bounds the decider calls in flight per partition; above 1 the
	// level decides through topology.ConsumeAsync (see [GraphConcurrent]).
	concurrency int
	// desk is true when the desk writes final decisions (see [Options]): the
	// level tells it its progress instead.
	desk bool
	// retry has the level retry a decider's [RetryLater] on a timer.
	retry bool
}

// decided is what the asynchronous form of a level passes from its decider
// call to the step that applies it (through the agent's loop topic): the
// document as read, and the decider's finding, or the retry it asked for.
type decided struct {
	Doc     Document `json:"doc"`
	Finding Finding  `json:"finding"`
	// Attempt and Retry are set when the decider asked to be called again.
	Attempt int            `json:"attempt,omitempty"`
	Retry   *retryDecision `json:"retry,omitempty"`
}

// retryDecision is a [RetryLater] as it passes the loop topic.
type retryDecision struct {
	After  time.Duration `json:"after"`
	Reason string        `json:"reason"`
}

// agent returns the level's agent: it reads the level's input, keeps a [Memory]
// per application in its table, asks the decider for a finding, and sends the
// document on to the next hop of its slip or ends its path in [Final]. It may
// emit to every scrutiny queue but its own, and to Final; level A also looks up
// [RoutesTable].
func (lv *level) agent() topology.Agent[Memory] {
	a := topology.Agent[Memory]{
		Name:  lv.names.Agent(lv.Name),
		State: topology.JSON[Memory](),
	}
	a.Inputs = []topology.Input[Memory]{lv.input()}
	if lv.retry {
		a.Inputs = append(a.Inputs, lv.retryInput())
		a.Outputs = append(a.Outputs, named(lv.names, RetryQueue(lv.Name)))
		a.OnTimer = lv.timer
	}
	if lv.Name == "A" {
		a.Lookups = []topology.Topic{namedTable(lv.names, RoutesTable)}
	}
	for _, q := range queues() {
		if q.Name != lv.Input {
			a.Outputs = append(a.Outputs, named(lv.names, q))
		}
	}
	if lv.desk {
		a.Outputs = append(a.Outputs, named(lv.names, Reports))
	} else {
		a.Outputs = append(a.Outputs, named(lv.names, Final))
	}
	return a
}

// input returns the level's input: its input stream, read with
// topology.Consume (the decider is called in goka's partition goroutine, one
// record at a time), or with concurrency above 1 with topology.ConsumeAsync (up
// to concurrency decider calls at once per partition, those of one application
// in order, each applied to the level's memory and routed as Consume would).
func (lv *level) input() topology.Input[Memory] {
	if lv.concurrency <= 1 {
		if lv.Name == "A" {
			return topology.Consume(named(lv.names, Applications),
				func(c *topology.Context[Memory], id string, app Application) error {
					return lv.handle(c, id, Document{Application: app, ReceivedAt: c.Timestamp()})
				})
		}
		return topology.Consume(named(lv.names, Queue(lv.Name)), lv.handle)
	}
	if lv.Name == "A" {
		return topology.ConsumeAsync(named(lv.names, Applications), lv.concurrency, topology.JSON[decided](),
			func(ctx context.Context, id string, app Application) (decided, error) {
				return lv.work(ctx, id, Document{Application: app}) // ReceivedAt: set by apply
			}, lv.apply)
	}
	return topology.ConsumeAsync(named(lv.names, Queue(lv.Name)), lv.concurrency, topology.JSON[decided](), lv.work, lv.apply)
}

// work is the slow half of an asynchronous level: the decider's call.
func (lv *level) work(ctx context.Context, id string, doc Document) (decided, error) {
	return lv.workAttempt(ctx, id, doc, 1)
}

// workAttempt is work for the attempt-th call about doc.
func (lv *level) workAttempt(ctx context.Context, id string, doc Document, attempt int) (decided, error) {
	if err := lv.check(doc); err != nil {
		return decided{}, err
	}
	f, err := lv.decideAttempt(ctx, id, doc.Application, attempt)
	if rl, ok := lv.asRetry(err); ok {
		return decided{Doc: doc, Attempt: attempt, Retry: &retryDecision{After: rl.After, Reason: rl.Err.Error()}}, nil
	}
	return decided{Doc: doc, Finding: f}, err
}

// apply is the step of an asynchronous level that applies a decider's call.
func (lv *level) apply(c *topology.Context[Memory], id string, d decided) error {
	if lv.Name == "A" && d.Doc.ReceivedAt.IsZero() {
		d.Doc.ReceivedAt = c.Timestamp() // the application's submission, carried through the loop topic
	}
	if d.Retry != nil {
		return lv.scheduleRetry(c, d.Doc, d.Attempt, &RetryLater{After: d.Retry.After, Err: errors.New(d.Retry.Reason)})
	}
	return lv.settle(c, id, d.Doc, d.Finding)
}

// handle is the level's handler for the document of the application id.
func (lv *level) handle(c *topology.Context[Memory], id string, doc Document) error {
	return lv.handleAttempt(c, id, doc, 1)
}

// handleAttempt is handle for the attempt-th call about doc.
func (lv *level) handleAttempt(c *topology.Context[Memory], id string, doc Document, attempt int) error {
	if err := lv.check(doc); err != nil {
		return err
	}
	f, err := lv.decideAttempt(c, id, doc.Application, attempt)
	if rl, ok := lv.asRetry(err); ok {
		return lv.scheduleRetry(c, doc, attempt, rl)
	}
	if err != nil {
		return err
	}
	return lv.settle(c, id, doc, f)
}

// MaxDocumentBytes bounds the size of a document, as JSON, that a level
// accepts: a real application is a few kilobytes. A larger one is
// dead-lettered before the level writes anything, because the level's writes
// carry the application (its memory, the document it sends on): a write
// larger than the broker takes (1 MiB by default) would be dead-lettered
// only after the level's work, with cause size ([topology.ErrTooLarge]) and
// an error about the write rather than the document.
const MaxDocumentBytes = 256 << 10

// check returns an error wrapping topology.ErrPermanent, which dead-letters the
// record at once, for a document the level must not handle: one larger than
// [MaxDocumentBytes], and one on a scrutiny queue that did not come from level
// A (valid JSON, such as {}, but no document of the pipeline), which a level
// would otherwise judge alone: the last level of a route would approve an
// application that no level checked.
func (lv *level) check(doc Document) error {
	if lv.Name != "A" && len(doc.Path) == 0 {
		return fmt.Errorf("level %s: the document has no path, so it did not pass level A: %w", lv.Name, topology.ErrPermanent)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("level %s: encode the document: %v: %w", lv.Name, err, topology.ErrPermanent)
	}
	if len(b) > MaxDocumentBytes {
		return fmt.Errorf("level %s: the document of %d bytes is larger than the pipeline's limit of %d: %w",
			lv.Name, len(b), MaxDocumentBytes, topology.ErrPermanent)
	}
	return nil
}

// settle applies the finding f about the document of the application id: it
// routes level A's passes by the routing table, records the level's step in its
// memory and the document's path, and sends the document to its next hop or
// ends its path in [Final].
func (lv *level) settle(c *topology.Context[Memory], id string, doc Document, f Finding) error {
	mem, seen, err := c.State()
	if err != nil {
		return err
	}
	app := doc.Application
	now := c.Now().UTC() // the agent's clock: topologytest's in tests
	if f.Decision == Pass && lv.Name == "A" {
		if f, err = lv.route(c, &doc, f); err != nil {
			return err
		}
	}
	var next string
	if f.Decision == Pass && len(doc.Slip) > 0 {
		next = doc.Slip[0]
		if _, ok := levelOfQueue(next); !ok {
			f = endWith(f, NeedsReview, fmt.Sprintf("routing slip names %q, which is no scrutiny queue", next))
		} else if next == lv.Input {
			f = endWith(f, NeedsReview, fmt.Sprintf("routing slip sends the application back to level %s", lv.Name))
		}
	}

	step := Step{Level: lv.Name, Time: now, Finding: f, TimesSeen: mem.TimesSeen + 1}
	if seen {
		step.Note = mem.note(app)
	} else {
		mem.FirstSeen = now
	}
	mem.TimesSeen++
	mem.LastSeen, mem.Saw, mem.Decision, mem.Reasons = now, app, f.Decision, f.Reasons
	if err := c.SetState(mem); err != nil {
		return err
	}
	doc.Path = append(slices.Clip(doc.Path), step)

	if f.Decision == Pass && len(doc.Slip) > 0 {
		doc.Slip = doc.Slip[1:]
		if err := topology.EmitTo(c, lv.names.Topic(next), id, doc); err != nil || !lv.desk {
			return err
		}
		nl, _ := levelOfQueue(next)
		return topology.Emit(c, named(lv.names, Reports), id, Report{Kind: "routed", Level: lv.Name, Next: nl.Name,
			Time: now, Path: doc.Path, VisaType: app.VisaType, SubmittedAt: doc.ReceivedAt})
	}
	final := FinalDecision{
		ApplicationID: id,
		VisaType:      app.VisaType,
		Decision:      f.Decision,
		Reasons:       reasons(doc.Path, f.Decision),
		Path:          doc.Path,
		SubmittedAt:   doc.ReceivedAt,
		DecidedAt:     now,
	}
	if f.Decision == Pass {
		final.Decision = Approved
	}
	if lv.desk {
		return topology.Emit(c, named(lv.names, Reports), id, Report{Kind: "outcome", Level: lv.Name,
			Time: now, Path: doc.Path, VisaType: app.VisaType, SubmittedAt: doc.ReceivedAt, Outcome: &final})
	}
	return topology.Emit(c, named(lv.names, Final), id, final)
}

// decideAttempt is decide for the attempt-th call, which a level that
// retries on a timer tells the decider (see [Attempt]).
func (lv *level) decideAttempt(ctx context.Context, id string, app Application, attempt int) (Finding, error) {
	if lv.retry {
		ctx = withAttempt(ctx, attempt)
	}
	return lv.decide(ctx, id, app)
}

// decide returns the decider's finding, or an ending one when the application
// cannot be decided: its ID and record key disagree, or the decider's answer
// cannot be acted on.
func (lv *level) decide(ctx context.Context, id string, app Application) (Finding, error) {
	if app.ApplicationID != "" && app.ApplicationID != id {
		return review("record key %q and application_id %q differ", id, app.ApplicationID), nil
	}
	f, err := lv.decider.Decide(ctx, lv.Name, app)
	if err != nil {
		return Finding{}, fmt.Errorf("level %s: decide %q: %w", lv.Name, id, err)
	}
	if err := f.check(); err != nil {
		return review("level %s could not act on its finding: %v", lv.Name, err), nil
	}
	return f, nil
}

// route writes the routing slip of the application's visa type into doc, from
// [RoutesTable]. A type without a usable route ends as needs_review; a failed
// read of the table is an error, so that the record is retried.
func (lv *level) route(c *topology.Context[Memory], doc *Document, f Finding) (Finding, error) {
	typ := doc.Application.VisaType
	r, ok, err := topology.Lookup(c, namedTable(lv.names, RoutesTable), typ)
	var de *topology.DecodeError
	switch {
	case errors.As(err, &de):
		return endWith(f, NeedsReview, fmt.Sprintf("route for visa type %q is unreadable: %v", typ, de.Err)), nil
	case err != nil:
		return f, fmt.Errorf("level %s: route for visa type %q: %w", lv.Name, typ, err)
	case !ok:
		return endWith(f, NeedsReview, fmt.Sprintf("unknown visa type %q: no route in %s", typ, RoutesTable.Name)), nil
	}
	if err := r.Check(); err != nil {
		return endWith(f, NeedsReview, fmt.Sprintf("route for visa type %q is unusable: %v", typ, err)), nil
	}
	doc.Slip = slices.Clone(r.Hops)
	return f, nil
}

// endWith returns f changed to end the path with decision, adding reason.
func endWith(f Finding, decision, reason string) Finding {
	f.Decision = decision
	f.Reasons = append(slices.Clip(f.Reasons), reason)
	return f
}

// reasons returns the reasons of a final decision: those of the last step, or,
// for an approval, those every level noted, each prefixed with its level.
func reasons(path []Step, decision string) []string {
	out := []string{}
	steps := path[len(path)-1:]
	if decision == Pass {
		steps = path
	}
	for _, s := range steps {
		for _, r := range s.Finding.Reasons {
			out = append(out, s.Level+": "+r)
		}
	}
	return out
}
