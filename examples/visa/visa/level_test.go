package visa_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// pipeline returns a harness running every level with d, and the default routes
// plus the work route in the routing table.
func pipeline(t *testing.T, d visa.Decider) *topologytest.Harness {
	t.Helper()
	g, err := visa.Graph(d)
	if err != nil {
		t.Fatal(err)
	}
	h := topologytest.New(t, g)
	for _, r := range append(slices.Clone(visa.DefaultRoutes), visa.WorkRoute) {
		topologytest.SetTable(h, visa.RoutesTable, r.VisaType, r)
	}
	return h
}

// submit feeds app to level A, stamped with the submission time.
func submit(h *topologytest.Harness, app visa.Application) {
	topologytest.Consume(h, visa.Applications, app.ApplicationID, app, topologytest.WithTime(submitted))
}

// decision returns the only final decision written since the last call.
func decision(t *testing.T, h *topologytest.Harness) visa.FinalDecision {
	t.Helper()
	out := topologytest.Output(h, visa.Final)
	if len(out) != 1 {
		t.Fatalf("final decisions = %+v, want exactly one", out)
	}
	if out[0].Key != out[0].Value.ApplicationID {
		t.Errorf("final decision keyed %q for application %q", out[0].Key, out[0].Value.ApplicationID)
	}
	return out[0].Value
}

// noDeadLetters fails the test if a level dead-lettered a record.
func noDeadLetters(t *testing.T, h *topologytest.Harness) {
	t.Helper()
	for _, l := range visa.Levels {
		if dl := topologytest.DeadLetters(h, l.Agent()); len(dl) > 0 {
			t.Errorf("%s dead-lettered %+v", l.Agent(), dl)
		}
	}
}

// TestPathPerVisaType pins the routing: each visa type visits exactly the levels
// of its route, each queue on the way carries the document once, with the slip
// shrinking by one hop per level, and the last level approves.
func TestPathPerVisaType(t *testing.T) {
	for _, tc := range []struct {
		visaType string
		levels   []string
	}{
		{"tourist", []string{"A"}},
		{"business", []string{"A", "B", "C", "D"}},
		{"student", []string{"A", "B", "D"}},
		{"work", []string{"A", "B", "E", "D"}},
	} {
		t.Run(tc.visaType, func(t *testing.T) {
			h := pipeline(t, nil)
			submit(h, valid("x1", tc.visaType))
			d := decision(t, h)
			if d.Decision != visa.Approved || !slices.Equal(pathLevels(d.Path), tc.levels) {
				t.Fatalf("decision %s with path %v (reasons %q), want approved with path %v", d.Decision, pathLevels(d.Path), d.Reasons, tc.levels)
			}
			if d.VisaType != tc.visaType || !d.SubmittedAt.Equal(submitted) || d.DecidedAt.Before(d.Path[0].Time) {
				t.Errorf("decision %+v: want visa type %s, submitted at %v, decided after the first step", d, tc.visaType, submitted)
			}
			for i, s := range d.Path {
				if s.Finding.Decision != visa.Pass || s.TimesSeen != 1 || s.Note != "" || (i > 0 && s.Time.Before(d.Path[i-1].Time)) {
					t.Errorf("step %d = %+v, want a first pass, in time order", i, s)
				}
			}
			for _, l := range visa.Levels[1:] {
				out := topologytest.Output(h, visa.Queue(l.Name))
				i := slices.Index(tc.levels, l.Name)
				if i < 0 {
					if len(out) > 0 {
						t.Errorf("queue %s got %d documents, want none", l.Name, len(out))
					}
					continue
				}
				if len(out) != 1 {
					t.Fatalf("queue %s got %d documents, want 1", l.Name, len(out))
				}
				doc := out[0].Value
				if want := len(tc.levels) - i - 1; len(doc.Slip) != want || len(doc.Path) != i {
					t.Errorf("document on queue %s has slip %v and %d steps, want %d hops left and %d steps", l.Name, doc.Slip, len(doc.Path), want, i)
				}
			}
			noDeadLetters(t, h)
		})
	}
}

// TestEarlyEnd pins that a level may end a path only with a recorded reason: the
// rejecting or reviewing level is the last on the path and its reasons, prefixed
// with the level, are the decision's.
func TestEarlyEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		app      func() visa.Application
		decision string
		levels   []string
		reason   string
	}{
		{"expired passport at A", func() visa.Application {
			a := valid("x1", "business")
			a.Passport.Expiry = day(-1)
			return a
		}, visa.Rejected, []string{"A"}, "A: passport expired"},
		{"funds at B", func() visa.Application {
			a := valid("x1", "student")
			a.Funds = 10
			return a
		}, visa.Rejected, []string{"A", "B"}, "B: funds of 10 EUR"},
		{"no invitation at C", func() visa.Application {
			a := valid("x1", "business")
			a.Invitation = nil
			return a
		}, visa.Rejected, []string{"A", "B", "C"}, "C: no invitation letter"},
		{"refusals at D", func() visa.Application {
			a := valid("x1", "business")
			a.PriorRefusals = 2
			return a
		}, visa.NeedsReview, []string{"A", "B", "C", "D"}, "D: 2 prior refusals"},
		{"no medical at E", func() visa.Application {
			a := valid("x1", "work")
			a.Medical = nil
			return a
		}, visa.Rejected, []string{"A", "B", "E"}, "E: no medical certificate"},
		{"unknown visa type", func() visa.Application { return valid("x1", "diplomatic") },
			visa.NeedsReview, []string{"A"}, `A: unknown visa type "diplomatic": no route in visa-routes`},
		{"record key differs from application_id", func() visa.Application {
			a := valid("x1", "tourist")
			a.ApplicationID = "x2"
			return a
		}, visa.NeedsReview, []string{"A"}, `A: record key "x1" and application_id "x2" differ`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := pipeline(t, nil)
			app := tc.app()
			topologytest.Consume(h, visa.Applications, "x1", app)
			d := decision(t, h)
			if d.Decision != tc.decision || !slices.Equal(pathLevels(d.Path), tc.levels) {
				t.Fatalf("decision %s with path %v, want %s with path %v", d.Decision, pathLevels(d.Path), tc.decision, tc.levels)
			}
			if len(d.Reasons) == 0 || !strings.HasPrefix(d.Reasons[0], tc.reason) {
				t.Errorf("reasons %q, want the first to start with %q", d.Reasons, tc.reason)
			}
			noDeadLetters(t, h)
		})
	}
}

// TestApprovalKeepsNotes pins that an approval's reasons are the notes levels
// made while passing the application.
func TestApprovalKeepsNotes(t *testing.T) {
	h := pipeline(t, nil)
	a := valid("x1", "student")
	a.PriorRefusals = 1
	submit(h, a)
	d := decision(t, h)
	if d.Decision != visa.Approved || !slices.Equal(d.Reasons, []string{"D: 1 prior refusal noted"}) {
		t.Errorf("decision %s with reasons %q, want approved with D's note", d.Decision, d.Reasons)
	}
}

// TestRoutingTableIsData pins that routes come from the table: a route changed
// in the table applies to the next application, and a route or slip that leaves
// the routing universe ends the path as needs_review instead of losing the
// application.
func TestRoutingTableIsData(t *testing.T) {
	h := pipeline(t, nil)
	topologytest.SetTable(h, visa.RoutesTable, "tourist", visa.Route{VisaType: "tourist", Hops: []string{visa.QueueName("D")}})
	submit(h, valid("x1", "tourist"))
	if d := decision(t, h); d.Decision != visa.Approved || !slices.Equal(pathLevels(d.Path), []string{"A", "D"}) {
		t.Errorf("after rerouting tourist through D: %s with path %v, want approved via A, D", d.Decision, pathLevels(d.Path))
	}

	topologytest.SetTable(h, visa.RoutesTable, "tourist", visa.Route{VisaType: "tourist", Hops: []string{"scrutiny-queue-Z"}})
	submit(h, valid("x2", "tourist"))
	if d := decision(t, h); d.Decision != visa.NeedsReview || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "is unusable") {
		t.Errorf("route to an unknown queue: %s with reasons %q, want needs_review saying the route is unusable", d.Decision, d.Reasons)
	}

	// Slips arrive with the document: one that leaves the universe, or loops back.
	for _, tc := range []struct {
		slip   []string
		reason string
	}{
		{[]string{"orders"}, `routing slip names "orders", which is no scrutiny queue`},
		{[]string{visa.QueueName("B")}, "routing slip sends the application back to level B"},
	} {
		passedA := []visa.Step{{Level: "A", Time: submitted, Finding: visa.Finding{Decision: visa.Pass, Confidence: 1}, TimesSeen: 1}}
		doc := visa.Document{Application: valid("x3", "student"), Slip: tc.slip, Path: passedA}
		topologytest.Consume(h, visa.Queue("B"), "x3", doc)
		d := decision(t, h)
		if d.Decision != visa.NeedsReview || !slices.Equal(pathLevels(d.Path), []string{"A", "B"}) || !slices.Contains(d.Reasons, "B: "+tc.reason) {
			t.Errorf("slip %v: %s via %v with reasons %q, want needs_review at B saying %q", tc.slip, d.Decision, pathLevels(d.Path), d.Reasons, tc.reason)
		}
	}
	noDeadLetters(t, h)
}

// TestMalformedApplication pins that a record level A cannot decode goes to its
// dead-letter topic, not to a decision, and that the next one is handled.
func TestMalformedApplication(t *testing.T) {
	h := pipeline(t, nil)
	topologytest.ConsumeRaw(h, visa.Applications.Name, "bad", []byte(`{"application_id":"bad","visa_type":`))
	submit(h, valid("x1", "tourist"))
	dl := topologytest.DeadLetters(h, "level-a")
	if len(dl) != 1 || dl[0].Key != "bad" || dl[0].Cause != "decode" {
		t.Errorf("level-a dead letters = %+v, want the record bad with cause decode", dl)
	}
	if d := decision(t, h); d.ApplicationID != "x1" {
		t.Errorf("decision for %s, want x1 only", d.ApplicationID)
	}

	// A document on a queue that did not pass level A (valid JSON, no path) is
	// dead-lettered, not judged by the level alone.
	topologytest.Consume(h, visa.Queue("D"), "x2", visa.Document{Application: valid("x2", "student")})
	dl = topologytest.DeadLetters(h, "level-d")
	if len(dl) != 1 || dl[0].Key != "x2" || dl[0].Cause != "handler" || !strings.Contains(dl[0].Err, "did not pass level A") {
		t.Errorf("level-d dead letters = %+v, want x2, which did not pass level A", dl)
	}
	if out := topologytest.Output(h, visa.Final); len(out) != 0 {
		t.Errorf("final decisions %+v for a document that did not pass level A, want none", out)
	}
}

// TestMemory pins each level's memory: an application seen again is recognised,
// its path says so with the earlier decision, and the tables count sightings.
func TestMemory(t *testing.T) {
	h := pipeline(t, nil)
	a := valid("x1", "student")
	submit(h, a)
	first := decision(t, h)
	submit(h, a)
	second := decision(t, h)
	for i, s := range second.Path {
		if s.TimesSeen != 2 || !strings.Contains(s.Note, "seen 2 times") || !strings.Contains(s.Note, "last decision pass") ||
			!strings.HasSuffix(s.Note, "application unchanged") {
			t.Errorf("second pass, step %d = %+v, want times_seen 2 and a note of the first", i, s)
		}
		if !strings.Contains(s.Note, first.Path[i].Time.Format("2006-01-02T15:04:05")) {
			t.Errorf("note %q does not give the first sighting at %v", s.Note, first.Path[i].Time)
		}
	}
	a.Funds++
	submit(h, a)
	if third := decision(t, h); !strings.HasSuffix(third.Path[1].Note, "application changed since") {
		t.Errorf("changed application: note %q, want it to say it changed", third.Path[1].Note)
	}
	for _, l := range []string{"A", "B", "D"} {
		m, ok := topologytest.TableValue(h, visa.MemoryTable(l), "x1")
		if !ok || m.TimesSeen != 3 || m.Decision != visa.Pass || m.Saw.Funds != a.Funds || m.FirstSeen.After(m.LastSeen) {
			t.Errorf("level %s memory of x1 = %+v, %v, want 3 sightings, last decision pass, the changed funds", l, m, ok)
		}
	}
	if _, ok := topologytest.TableValue(h, visa.MemoryTable("C"), "x1"); ok {
		t.Errorf("level C remembers x1, which never went through it")
	}
}

// deciderFunc adapts a function to visa.Decider.
type deciderFunc func(level string, app visa.Application) (visa.Finding, error)

func (f deciderFunc) Decide(_ context.Context, level string, app visa.Application) (visa.Finding, error) {
	return f(level, app)
}

// TestDeciderFailures pins what a level does when its decider fails: an error
// dead-letters the record (after the retries); an answer it cannot act on ends
// the path as needs_review.
func TestDeciderFailures(t *testing.T) {
	down := errors.New("model down")
	d := visa.ByLevel{
		"A": visa.Rules{},
		"B": deciderFunc(func(_ string, app visa.Application) (visa.Finding, error) {
			switch app.ApplicationID {
			case "err":
				return visa.Finding{}, down
			case "maybe":
				return visa.Finding{Decision: "maybe"}, nil
			}
			return visa.Finding{Decision: visa.Rejected}, nil // no reason
		}),
	}
	h := pipeline(t, d)
	submit(h, valid("err", "student"))
	if dl := topologytest.DeadLetters(h, "level-b"); len(dl) != 1 || dl[0].Key != "err" || !strings.Contains(dl[0].Err, "model down") {
		t.Errorf("level-b dead letters = %+v, want err with the decider's error", dl)
	}
	for id, reason := range map[string]string{
		"maybe":    `B: level B could not act on its finding: unknown decision "maybe" (want pass, rejected or needs_review)`,
		"noreason": `B: level B could not act on its finding: decision "rejected" without a reason`,
	} {
		submit(h, valid(id, "student"))
		if got := decision(t, h); got.Decision != visa.NeedsReview || !slices.Equal(got.Reasons, []string{reason}) {
			t.Errorf("%s: %s with reasons %q, want needs_review with %q", id, got.Decision, got.Reasons, reason)
		}
	}
	// Level D has no decider in d.
	topologytest.SetTable(h, visa.RoutesTable, "tourist", visa.Route{VisaType: "tourist", Hops: []string{visa.QueueName("D")}})
	submit(h, valid("t1", "tourist"))
	if got := decision(t, h); got.Decision != visa.NeedsReview || !slices.Equal(got.Reasons, []string{"D: no decider configured for level D"}) {
		t.Errorf("level without a decider: %s with reasons %q, want needs_review saying so", got.Decision, got.Reasons)
	}
}
