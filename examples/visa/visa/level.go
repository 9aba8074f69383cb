package visa

import (
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
	now     func() time.Time
	// names are the pipeline's topic and agent names: production's, or a
	// shadow run's. Routing slips hold production's queue names either way.
	names Names
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
	if lv.Name == "A" {
		a.Inputs = []topology.Input[Memory]{topology.Consume(named(lv.names, Applications),
			func(c *topology.Context[Memory], id string, app Application) error {
				return lv.handle(c, id, Document{Application: app, ReceivedAt: c.Timestamp()})
			})}
		a.Lookups = []topology.Topic{namedTable(lv.names, RoutesTable)}
	} else {
		a.Inputs = []topology.Input[Memory]{topology.Consume(named(lv.names, Queue(lv.Name)), lv.handle)}
	}
	for _, q := range queues() {
		if q.Name != lv.Input {
			a.Outputs = append(a.Outputs, named(lv.names, q))
		}
	}
	a.Outputs = append(a.Outputs, named(lv.names, Final))
	return a
}

// handle is the level's handler for the document of the application id.
func (lv *level) handle(c *topology.Context[Memory], id string, doc Document) error {
	mem, seen, err := c.State()
	if err != nil {
		return err
	}
	app := doc.Application
	now := lv.now().UTC()
	f, err := lv.decide(c, id, app)
	if err != nil {
		return err
	}
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
		return topology.EmitTo(c, lv.names.Topic(next), id, doc)
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
	return topology.Emit(c, named(lv.names, Final), id, final)
}

// decide returns the decider's finding, or an ending one when the application
// cannot be decided: its ID and record key disagree, or the decider's answer
// cannot be acted on.
func (lv *level) decide(c *topology.Context[Memory], id string, app Application) (Finding, error) {
	if app.ApplicationID != "" && app.ApplicationID != id {
		return review("record key %q and application_id %q differ", id, app.ApplicationID), nil
	}
	f, err := lv.decider.Decide(c, lv.Name, app)
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
