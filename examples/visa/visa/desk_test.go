package visa_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// supervised returns a harness running the levels named (every one if none)
// and the desk with o, the default routes and the work route in the routing
// table, its clock at the fixtures' submission time.
func supervised(t *testing.T, o visa.Options, levels ...string) *topologytest.Harness {
	t.Helper()
	g, err := visa.GraphWith(nil, o, levels...)
	if err != nil {
		t.Fatal(err)
	}
	h := topologytest.New(t, g, topologytest.Clock(submitted))
	if len(levels) == 0 || slices.Contains(levels, "A") {
		for _, r := range append(slices.Clone(visa.DefaultRoutes), visa.WorkRoute) {
			topologytest.SetTable(h, visa.RoutesTable, r.VisaType, r)
		}
	}
	return h
}

// deskCase returns the desk's case of id.
func deskCase(t *testing.T, h *topologytest.Harness, id string) visa.Case {
	t.Helper()
	cs, ok := topologytest.TableValue(h, visa.DeskTable, id)
	if !ok {
		t.Fatalf("the desk has no case %s", id)
	}
	return cs
}

// deskEvents returns the kinds of the desk's events since the last call.
func deskEvents(h *topologytest.Harness) []string {
	var kinds []string
	for _, r := range topologytest.Output(h, visa.DeskEvents) {
		kinds = append(kinds, r.Key+" "+r.Value.Kind)
	}
	return kinds
}

// TestDeskPassesDecisions pins that with the desk in the pipeline final
// decisions are what they were without it, written once, by the desk.
func TestDeskPassesDecisions(t *testing.T) {
	h := supervised(t, visa.Options{SLA: map[string]time.Duration{"A": time.Minute, "B": time.Minute, "C": time.Minute, "D": time.Minute}})
	submit(h, valid("x1", "business"))
	d := decision(t, h)
	if d.Decision != visa.Approved || !slices.Equal(pathLevels(d.Path), []string{"A", "B", "C", "D"}) {
		t.Fatalf("decision %s with path %v, want approved along A, B, C, D", d.Decision, pathLevels(d.Path))
	}
	if cs := deskCase(t, h, "x1"); cs.Status != visa.StatusDecided || cs.Decision != visa.Approved || len(cs.Audit) != 0 {
		t.Fatalf("case %+v, want decided, approved, nothing audited", cs)
	}
	topologytest.Advance(h, time.Hour) // the SLA timers were cancelled along the way
	if out := topologytest.Output(h, visa.Final); len(out) != 0 {
		t.Fatalf("final decisions after an hour: %+v, want none", out)
	}
	if ev := deskEvents(h); len(ev) != 0 {
		t.Fatalf("desk events %q, want none", ev)
	}
}

// TestSLAExceeded runs the pipeline without level B: a business application
// waits on B's queue past B's SLA and ends as needs_review, "SLA exceeded at
// level B", in the review table; when B's answer comes later it goes into the
// case's audit trail and makes no final decision; a reviewer's approval then
// does, its path ending with the reviewer's step.
func TestSLAExceeded(t *testing.T) {
	h := supervised(t, visa.Options{SLA: map[string]time.Duration{"B": 2 * time.Minute}, Review: true}, "A", "C", "D")
	submit(h, valid("x1", "business"))
	doc := topologytest.Output(h, visa.Queue("B"))
	if len(doc) != 1 {
		t.Fatalf("queue B holds %d documents, want 1", len(doc))
	}
	topologytest.Advance(h, 2*time.Minute-time.Second)
	if cs := deskCase(t, h, "x1"); cs.Status != visa.StatusInLevels || cs.At != "B" {
		t.Fatalf("case before the SLA: %+v, want waiting at B", cs)
	}
	topologytest.Advance(h, time.Second)
	if ev := deskEvents(h); !slices.Equal(ev, []string{"x1 sla_exceeded", "x1 awaiting_review"}) {
		t.Fatalf("desk events %q, want the SLA exceeded and a review", ev)
	}
	cs := deskCase(t, h, "x1")
	if cs.Status != visa.StatusAwaitingReview || !slices.Equal(cs.Reasons, []string{"SLA exceeded at level B"}) {
		t.Fatalf("case %+v, want awaiting review for the SLA of level B", cs)
	}
	if out := topologytest.Output(h, visa.Final); len(out) != 0 {
		t.Fatalf("final decisions %+v, want none while the case awaits review", out)
	}

	// Level B answers, late: its report goes to the audit trail only.
	late := doc[0].Value
	late.Path = append(late.Path, visa.Step{Level: "B", Time: submitted.Add(3 * time.Minute), Finding: visa.Finding{Decision: visa.Pass}})
	topologytest.Consume(h, visa.Reports, "x1", visa.Report{Kind: "routed", Level: "B", Next: "C", Time: submitted.Add(3 * time.Minute),
		Path: late.Path, VisaType: "business", SubmittedAt: submitted})
	topologytest.Consume(h, visa.Reports, "x1", visa.Report{Kind: "routed", Level: "B", Next: "C", Time: submitted.Add(3 * time.Minute),
		Path: late.Path, VisaType: "business", SubmittedAt: submitted}) // a replay: recorded once
	if ev := deskEvents(h); !slices.Equal(ev, []string{"x1 late_answer"}) {
		t.Fatalf("desk events %q, want one late answer", ev)
	}
	cs = deskCase(t, h, "x1")
	if n := len(cs.Audit); n != 2 || cs.Audit[1].Kind != visa.KindLateAnswer || !strings.Contains(cs.Audit[1].Note, "level B answered") {
		t.Fatalf("audit %+v, want the SLA and the late answer of level B", cs.Audit)
	}
	if out := topologytest.Output(h, visa.Final); len(out) != 0 {
		t.Fatalf("final decisions %+v after the late answer, want none", out)
	}

	topologytest.Advance(h, 10*time.Minute)
	topologytest.Consume(h, visa.Reviews, "x1", visa.ReviewDecision{Decision: visa.Approved, Comment: "funds confirmed by the bank", Reviewer: "ana"})
	d := decision(t, h)
	last := d.Path[len(d.Path)-1]
	if d.Decision != visa.Approved || last.Level != visa.ReviewLevel || last.Reviewer != "ana" ||
		!slices.Equal(last.Finding.Reasons, []string{"funds confirmed by the bank"}) || !slices.Equal(pathLevels(d.Path), []string{"A", "review"}) {
		t.Fatalf("final %+v, want approved with the path A, review (ana's comment)", d)
	}
	if ev := deskEvents(h); !slices.Equal(ev, []string{"x1 reviewed"}) {
		t.Fatalf("desk events %q, want reviewed", ev)
	}
	// A second decision on the case changes nothing.
	topologytest.Consume(h, visa.Reviews, "x1", visa.ReviewDecision{Decision: visa.Rejected, Reviewer: "bo"})
	if out := topologytest.Output(h, visa.Final); len(out) != 0 {
		t.Fatalf("final decisions %+v after a second review, want none", out)
	}
	if ev := deskEvents(h); !slices.Equal(ev, []string{"x1 review_ignored"}) {
		t.Fatalf("desk events %q, want the second review ignored", ev)
	}
}

// TestSLAWithoutReview: without review, an SLA ends the application at once
// with a needs_review final decision.
func TestSLAWithoutReview(t *testing.T) {
	h := supervised(t, visa.Options{SLA: map[string]time.Duration{"A": time.Minute}}, "B", "C", "D")
	submit(h, valid("x1", "tourist")) // level A does not run
	topologytest.Advance(h, time.Minute)
	d := decision(t, h)
	if d.Decision != visa.NeedsReview || !slices.Equal(d.Reasons, []string{"SLA exceeded at level A"}) || len(d.Path) != 0 {
		t.Fatalf("final %+v, want needs_review for the SLA of level A, with an empty path", d)
	}
}

// TestReviewEscalates: a needs_review application waits in the review table;
// past the review SLA it is escalated, once, and a reviewer still decides it.
func TestReviewEscalates(t *testing.T) {
	h := supervised(t, visa.Options{Review: true, ReviewSLA: time.Hour})
	app := valid("x1", "tourist")
	app.Passport.Number = "bad!" // level A: needs_review
	submit(h, app)
	if out := topologytest.Output(h, visa.Final); len(out) != 0 {
		t.Fatalf("final decisions %+v, want none: the application awaits review", out)
	}
	cs := deskCase(t, h, "x1")
	if cs.Status != visa.StatusAwaitingReview || len(cs.Reasons) == 0 || !slices.Equal(pathLevels(cs.Path), []string{"A"}) {
		t.Fatalf("case %+v, want awaiting review with level A's reasons and path", cs)
	}
	topologytest.Advance(h, 59*time.Minute)
	if cs := deskCase(t, h, "x1"); cs.Escalated {
		t.Fatal("escalated before the review SLA")
	}
	topologytest.Advance(h, 2*time.Hour)
	if ev := deskEvents(h); !slices.Equal(ev, []string{"x1 awaiting_review", "x1 review_escalated"}) {
		t.Fatalf("desk events %q, want a review and one escalation", ev)
	}
	if cs := deskCase(t, h, "x1"); !cs.Escalated {
		t.Fatalf("case %+v, want escalated", cs)
	}
	topologytest.Consume(h, visa.Reviews, "x1", visa.ReviewDecision{Decision: visa.Rejected, Comment: "passport number is not one", Reviewer: "bo"})
	if d := decision(t, h); d.Decision != visa.Rejected || !slices.Equal(pathLevels(d.Path), []string{"A", "review"}) {
		t.Fatalf("final %+v, want rejected along A, review", d)
	}
	if dl := topologytest.DeadLetters(h, visa.DeskAgent); len(dl) != 0 {
		t.Fatalf("desk dead letters %+v", dl)
	}
}

// TestReviewDecisionChecked: a review decision other than approved or
// rejected is no decision: it goes to the desk's dead-letter topic.
func TestReviewDecisionChecked(t *testing.T) {
	h := supervised(t, visa.Options{Review: true})
	topologytest.Consume(h, visa.Reviews, "x1", visa.ReviewDecision{Decision: "maybe"})
	if dl := topologytest.DeadLetters(h, visa.DeskAgent); len(dl) != 1 || !strings.Contains(dl[0].Err, `decision "maybe"`) {
		t.Fatalf("desk dead letters %+v, want the review with its decision named", dl)
	}
}

// deskEventsOf decodes the desk's events about id from tl.
func deskEventsOf(t *testing.T, tl *tail, id string) []visa.DeskEvent {
	t.Helper()
	var out []visa.DeskEvent
	for _, r := range tl.records(visa.DeskEvents.Name, id) {
		var e visa.DeskEvent
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("desk event of %s: %v", id, err)
		}
		out = append(out, e)
	}
	return out
}

func kinds(es []visa.DeskEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind)
	}
	return out
}

// TestSLAOnBroker runs the pipeline with the desk on the embedded broker,
// level B's SLA 2 s, a review SLA of 1 s and level B stopped, in both modes:
// a business application waits on B's queue, ends in the review table when
// B's SLA passes (the desk's timer), and is escalated when its review's SLA
// passes (another timer). When level B starts and answers, its answer and
// those of C and D after it are audited without a final decision. A
// reviewer's approval on the reviews topic then makes the one final decision,
// its path ending with the reviewer's step.
func TestSLAOnBroker(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run("mode="+mode, func(t *testing.T) {
			var opts []topology.Option
			if mode == "exactly-once" {
				opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
			}
			o := visa.Options{SLA: map[string]time.Duration{"B": 2 * time.Second}, Review: true, ReviewSLA: time.Second}
			g, err := visa.GraphWith(nil, o, "A", "C", "D")
			if err != nil {
				t.Fatal(err)
			}
			full, err := visa.GraphWith(nil, o)
			if err != nil {
				t.Fatal(err)
			}
			// The broker compacts every hour (kfake's default), not every 5 s:
			// the trace below shows the desk's timer sets that later ones
			// superseded, which a compaction in between removes (with a
			// 100 ms interval, "sla at" was gone from every run's trace).
			addrs := setUpOn(t, kafkatest.OnEmbedded(t, broker.CleanerInterval(time.Hour)), full, visa.DefaultRoutes)
			tl := newTail(t, addrs, visa.Final.Name, visa.DeskEvents.Name)
			running(t, g, addrs, t.TempDir(), opts...)
			sendApp(t, addrs, valid("sla-1", "business"))
			waitUntil(t, func() bool { return slices.Contains(kinds(deskEventsOf(t, tl, "sla-1")), visa.KindReviewEscalated) })
			if fs := tl.finals(t, "sla-1"); len(fs) != 0 {
				t.Fatalf("finals %+v before the review, want none", fs)
			}

			running(t, full, addrs, t.TempDir(), append(opts, topology.Agents("level-b"))...) // B comes, late
			waitUntil(t, func() bool { return len(deskEventsOf(t, tl, "sla-1")) >= 6 })
			if got, want := kinds(deskEventsOf(t, tl, "sla-1")), []string{visa.KindSLAExceeded, visa.KindAwaitingReview,
				visa.KindReviewEscalated, visa.KindLateAnswer, visa.KindLateAnswer, visa.KindLateAnswer}; !slices.Equal(got, want) {
				t.Fatalf("desk events %q, want %q (B, C and D answering late)", got, want)
			}
			if fs := tl.finals(t, "sla-1"); len(fs) != 0 {
				t.Fatalf("finals %+v after the late answers, want none", fs)
			}

			rev, err := topology.NewEmitter(visa.Reviews, topology.Brokers(addrs...))
			if err != nil {
				t.Fatal(err)
			}
			defer rev.Close()
			if err := rev.Write(t.Context(), "sla-1", visa.ReviewDecision{Decision: visa.Approved, Comment: "B was down; funds fine", Reviewer: "ana"}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, func() bool { return len(tl.finals(t, "sla-1")) > 0 })
			f := tl.finals(t, "sla-1")
			if len(f) != 1 || f[0].Decision != visa.Approved || !slices.Equal(pathLevels(f[0].Path), []string{"A", visa.ReviewLevel}) ||
				f[0].Path[1].Reviewer != "ana" {
				t.Fatalf("finals %+v, want one approval along A, review by ana", f)
			}

			// visa trace shows all of it: the SLA timer set and fired, the
			// review, its escalation, the late answers, the reviewer's
			// decision.
			waitUntil(t, func() bool {
				evs, err := visa.Trace(t.Context(), []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, "sla-1")
				return err == nil && slices.ContainsFunc(evs, func(e visa.Event) bool { return e.Kind == visa.EventFinal })
			})
			evs, err := visa.Trace(t.Context(), []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, "sla-1")
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := visa.WriteTrace(&out, "sla-1", evs); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"visa-desk-timers", "sla at ", "review-sla at ", "sla_exceeded", "awaiting_review",
				"review_escalated", "late_answer", "visa-reviews-in", "ana: B was down; funds fine", "reviewed",
				"outcome: approved at level review"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("trace lacks %q:\n%s", want, out.String())
				}
			}
			// In order: the review, its escalation, the reviewer's decision.
			var order []string
			for _, e := range evs {
				switch {
				case e.Kind == visa.EventDesk && (e.Decision == visa.KindAwaitingReview || e.Decision == visa.KindReviewEscalated):
					order = append(order, e.Decision)
					if e.Decision == visa.KindReviewEscalated && !slices.Equal(e.Reasons, []string{"SLA exceeded at level B"}) {
						t.Errorf("escalation event %+v, want the review's reason, SLA exceeded at level B", e)
					}
				case e.Kind == visa.EventReview:
					order = append(order, e.Kind)
				}
			}
			if want := []string{visa.KindAwaitingReview, visa.KindReviewEscalated, visa.EventReview}; !slices.Equal(order, want) {
				t.Errorf("trace has %q, want %q in that order:\n%s", order, want, out.String())
			}
			t.Logf("trace:\n%s", out.String())
		})
	}
}
