package visa

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// Options turn on the pipeline's supervision by the desk, an agent keyed by
// application ID that is then the only writer of [Final]: per-level SLAs and
// human review. The zero Options leave the pipeline as [Graph] builds it, the
// levels writing final decisions themselves.
type Options struct {
	// Concurrency bounds the decider calls in flight per partition of each
	// level, as for [GraphConcurrent]; 0 means 1.
	Concurrency int
	// SLA is how long an application may wait at a level, by level name
	// ("A" to "E"), from when it was sent there (for level A, its submission)
	// until the level answers. Past it the application ends as needs_review,
	// "SLA exceeded at level X"; the level's answer, if it comes later, goes
	// into the case's audit trail and makes no second final decision. A level
	// not in SLA has no deadline.
	SLA map[string]time.Duration
	// Review keeps needs_review applications in the desk's review table
	// ([DeskTable]) until a reviewer approves or rejects them on [Reviews]; the
	// final decision then ends its path with the reviewer's step. Without it a
	// needs_review is final at once, as without the desk.
	Review bool
	// ReviewSLA is how long a review may wait before it is escalated (marked,
	// and reported on [DeskEvents]); 0 means never.
	ReviewSLA time.Duration
	// Retry has each level retry a decider that asks for it ([RetryLater]: a
	// model's rate limit or timeout) on a timer, through the level's retry
	// queue ([RetryQueue]), instead of waiting in the partition.
	Retry bool
}

// desk reports whether o needs the desk agent.
func (o Options) desk() bool { return len(o.SLA) > 0 || o.Review }

// Statuses of a [Case].
const (
	// StatusInLevels is a case whose application is at a level.
	StatusInLevels = "in_levels"
	// StatusAwaitingReview is a case in the review table.
	StatusAwaitingReview = "awaiting_review"
	// StatusDecided is a case with its final decision.
	StatusDecided = "decided"
)

// Case is the desk's record of one application, in its table ([DeskTable]):
// where it is, since when, and everything the desk did about it.
type Case struct {
	ID          string    `json:"id"`
	VisaType    string    `json:"visa_type"`
	SubmittedAt time.Time `json:"submitted_at"`
	// Status is [StatusInLevels], [StatusAwaitingReview] or [StatusDecided].
	Status string `json:"status"`
	// At is the level the application waits at, and Since since when, while
	// it is in the levels.
	At    string    `json:"at,omitempty"`
	Since time.Time `json:"since"`
	// Path is the application's path as the desk last heard of it.
	Path []Step `json:"path,omitempty"`
	// Reasons are why it awaits review.
	Reasons []string `json:"reasons,omitempty"`
	// ReviewSince is when it entered the review table; Escalated is true once
	// its review SLA passed.
	ReviewSince time.Time `json:"review_since"`
	Escalated   bool      `json:"escalated,omitempty"`
	// Decision is the final decision, once decided.
	Decision string `json:"decision,omitempty"`
	// Audit is what happened to the case besides its path: SLAs exceeded,
	// late answers, escalations, reviews that came too late.
	Audit []Audit `json:"audit,omitempty"`
	// Heard is the longest path the desk heard of, late answers included: a
	// message about a shorter one is old (a replay or a race) and ignored.
	Heard int `json:"heard"`
}

// Audit is an entry of a case's audit trail.
type Audit struct {
	Time time.Time `json:"time"`
	// Kind is one of the kinds of [DeskEvent].
	Kind  string `json:"kind"`
	Level string `json:"level,omitempty"`
	Note  string `json:"note"`
}

// Report is what a level tells the desk: that it sent an application on
// (Kind "routed", to Next), or ended its path (Kind "outcome", with the
// final decision it would have written itself).
type Report struct {
	Kind  string    `json:"kind"`
	Level string    `json:"level"`
	Next  string    `json:"next,omitempty"`
	Time  time.Time `json:"time"`
	// Path is the document's path, the level's step last.
	Path        []Step         `json:"path"`
	VisaType    string         `json:"visa_type"`
	SubmittedAt time.Time      `json:"submitted_at"`
	Outcome     *FinalDecision `json:"outcome,omitempty"`
}

// ReviewDecision is a reviewer's decision on an application awaiting review,
// on [Reviews] under its ID.
type ReviewDecision struct {
	// Decision is [Approved] or [Rejected].
	Decision string `json:"decision"`
	Comment  string `json:"comment"`
	Reviewer string `json:"reviewer"`
}

// DeskEvent is what the desk reports on [DeskEvents]: every change of a case
// that is no final decision, for the run's tally and for people.
type DeskEvent struct {
	Kind  string    `json:"kind"`
	Time  time.Time `json:"time"`
	Level string    `json:"level,omitempty"`
	// Reasons are the review's reasons, or what the late answer said.
	Reasons []string `json:"reasons,omitempty"`
	// Waited is how long the application waited: at the level (an SLA) or for
	// its review.
	Waited time.Duration `json:"waited,omitempty"`
}

// Kinds of [DeskEvent] and [Audit].
const (
	KindSLAExceeded     = "sla_exceeded"
	KindAwaitingReview  = "awaiting_review"
	KindReviewEscalated = "review_escalated"
	KindReviewed        = "reviewed"
	KindLateAnswer      = "late_answer"
	KindReviewIgnored   = "review_ignored"
)

// ReviewLevel is the level name of a reviewer's step in a path.
const ReviewLevel = "review"

var (
	// Reports carries the levels' [Report]s to the desk.
	Reports = topology.Stream[Report]{Name: "visa-reports", Codec: topology.JSON[Report]()}
	// Reviews carries reviewers' decisions, keyed by application ID: written
	// by the review view of the live page, or any Kafka client.
	Reviews = topology.Stream[ReviewDecision]{Name: "visa-reviews-in", Codec: topology.JSON[ReviewDecision]()}
	// DeskEvents carries the desk's [DeskEvent]s.
	DeskEvents = topology.Stream[DeskEvent]{Name: "visa-desk-events", Codec: topology.JSON[DeskEvent]()}
)

// DeskAgent is the name of the desk's agent.
const DeskAgent = "visa-desk"

// DeskTable is the desk's table: a [Case] per application. The review table
// is its cases with status [StatusAwaitingReview].
var DeskTable = topology.Table[Case]{Name: topology.TableName(DeskAgent), Codec: topology.JSON[Case]()}

// Timer names of the desk.
const (
	slaTimer    = "sla"
	reviewTimer = "review-sla"
)

// desk is the runtime of the desk agent.
type desk struct {
	o     Options
	names Names
}

// agent returns the desk: it opens a case per application, follows the levels'
// progress, ends a case whose level's SLA passed, keeps needs_review cases for
// review, and writes every final decision.
func (d *desk) agent() topology.Agent[Case] {
	return topology.Agent[Case]{
		Name:  d.names.Topic(DeskAgent),
		State: topology.JSON[Case](),
		Inputs: []topology.Input[Case]{
			topology.Consume(named(d.names, Applications), d.opened),
			topology.Consume(named(d.names, Reports), d.progress),
			topology.Consume(named(d.names, Reviews), d.reviewed),
		},
		Outputs: []topology.Topic{named(d.names, Final), named(d.names, DeskEvents)},
		OnTimer: d.timer,
	}
}

// opened opens the case of a submitted application, its SLA at level A
// running from its submission; an application already known is a
// resubmission or a replay, and changes nothing.
func (d *desk) opened(c *topology.Context[Case], id string, app Application) error {
	_, ok, err := c.State()
	if err != nil || ok {
		return err
	}
	cs := Case{ID: id, VisaType: app.VisaType, SubmittedAt: c.Timestamp(), Status: StatusInLevels, At: "A", Since: c.Timestamp()}
	if err := c.SetState(cs); err != nil {
		return err
	}
	return d.armSLA(c, "A", cs.Since)
}

// armSLA sets the SLA timer of level for an application there since since,
// or cancels it if level has no SLA.
func (d *desk) armSLA(c *topology.Context[Case], level string, since time.Time) error {
	sla, ok := d.o.SLA[level]
	if !ok || sla <= 0 {
		return c.CancelTimer(slaTimer)
	}
	return c.SetTimer(topology.Timer{Name: slaTimer, At: since.Add(sla), Data: []byte(level)})
}

// progress follows a level's message about an application.
func (d *desk) progress(c *topology.Context[Case], id string, p Report) error {
	cs, ok, err := c.State()
	if err != nil {
		return err
	}
	if !ok { // the level was faster than the desk's read of the application
		cs = Case{ID: id, VisaType: p.VisaType, SubmittedAt: p.SubmittedAt, Status: StatusInLevels}
	}
	if len(p.Path) <= cs.Heard {
		return nil // old news: a replay, or overtaken by a later message
	}
	cs.Heard = len(p.Path)
	if cs.Status != StatusInLevels {
		return d.late(c, id, cs, p)
	}
	cs.Path = p.Path
	if p.Kind == "routed" {
		cs.At, cs.Since = p.Next, p.Time
		if err := c.SetState(cs); err != nil {
			return err
		}
		return d.armSLA(c, p.Next, p.Time)
	}
	if p.Outcome == nil {
		return fmt.Errorf("progress of %s from level %s: kind %q without an outcome: %w", id, p.Level, p.Kind, topology.ErrPermanent)
	}
	if err := c.CancelTimer(slaTimer); err != nil {
		return err
	}
	cs.At = ""
	if p.Outcome.Decision == NeedsReview && d.o.Review {
		return d.toReview(c, id, cs, p.Outcome.Reasons)
	}
	return d.decide(c, id, cs, *p.Outcome)
}

// late records a level's answer about a case that no longer waits for it: the
// audit trail keeps it, nothing else changes.
func (d *desk) late(c *topology.Context[Case], id string, cs Case, p Report) error {
	what := "passed it on to level " + p.Next
	var reasons []string
	if len(p.Path) > 0 {
		reasons = p.Path[len(p.Path)-1].Finding.Reasons
	}
	if p.Outcome != nil {
		what = "decided " + p.Outcome.Decision
		reasons = p.Outcome.Reasons
	}
	note := fmt.Sprintf("level %s answered at %s, after the case was %s: %s", p.Level, p.Time.UTC().Format(time.RFC3339), cs.Status, what)
	if len(reasons) > 0 {
		note += " (" + strings.Join(reasons, "; ") + ")"
	}
	cs.Audit = append(cs.Audit, Audit{Time: c.Now(), Kind: KindLateAnswer, Level: p.Level, Note: note})
	if err := c.SetState(cs); err != nil {
		return err
	}
	return topology.Emit(c, named(d.names, DeskEvents), id, DeskEvent{Kind: KindLateAnswer, Time: c.Now(), Level: p.Level, Reasons: []string{note}})
}

// toReview puts a case in the review table.
func (d *desk) toReview(c *topology.Context[Case], id string, cs Case, reasons []string) error {
	now := c.Now()
	cs.Status, cs.Reasons, cs.ReviewSince = StatusAwaitingReview, slices.Clone(reasons), now
	if err := c.SetState(cs); err != nil {
		return err
	}
	if d.o.ReviewSLA > 0 {
		if err := c.SetTimer(topology.Timer{Name: reviewTimer, At: now.Add(d.o.ReviewSLA)}); err != nil {
			return err
		}
	}
	return topology.Emit(c, named(d.names, DeskEvents), id, DeskEvent{Kind: KindAwaitingReview, Time: now, Reasons: cs.Reasons})
}

// decide ends a case with f and writes it to [Final].
func (d *desk) decide(c *topology.Context[Case], id string, cs Case, f FinalDecision) error {
	cs.Status, cs.Decision, cs.At = StatusDecided, f.Decision, ""
	if err := c.SetState(cs); err != nil {
		return err
	}
	return topology.Emit(c, named(d.names, Final), id, f)
}

// timer handles the desk's timers: a level's SLA, and a review's.
func (d *desk) timer(c *topology.Context[Case], id string, t topology.Timer) error {
	cs, ok, err := c.State()
	if err != nil || !ok {
		return err
	}
	now := c.Now()
	switch t.Name {
	case slaTimer:
		level := string(t.Data)
		if cs.Status != StatusInLevels || cs.At != level {
			return nil // answered in time: the timer was replaced or cancelled after it fired
		}
		waited := now.Sub(cs.Since)
		reason := fmt.Sprintf("SLA exceeded at level %s", level)
		cs.Audit = append(cs.Audit, Audit{Time: now, Kind: KindSLAExceeded, Level: level,
			Note: fmt.Sprintf("%s: waited %s, the SLA is %s", reason, waited.Round(time.Millisecond), d.o.SLA[level])})
		cs.At = ""
		if err := topology.Emit(c, named(d.names, DeskEvents), id, DeskEvent{Kind: KindSLAExceeded, Time: now, Level: level,
			Reasons: []string{reason}, Waited: waited}); err != nil {
			return err
		}
		if d.o.Review {
			return d.toReview(c, id, cs, []string{reason})
		}
		return d.decide(c, id, cs, FinalDecision{ApplicationID: id, VisaType: cs.VisaType, Decision: NeedsReview,
			Reasons: []string{reason}, Path: cs.Path, SubmittedAt: cs.SubmittedAt, DecidedAt: now})
	case reviewTimer:
		if cs.Status != StatusAwaitingReview || cs.Escalated {
			return nil
		}
		cs.Escalated = true
		waited := now.Sub(cs.ReviewSince)
		cs.Audit = append(cs.Audit, Audit{Time: now, Kind: KindReviewEscalated,
			Note: fmt.Sprintf("review waited %s, its SLA is %s: escalated", waited.Round(time.Millisecond), d.o.ReviewSLA)})
		if err := c.SetState(cs); err != nil {
			return err
		}
		return topology.Emit(c, named(d.names, DeskEvents), id, DeskEvent{Kind: KindReviewEscalated, Time: now, Reasons: cs.Reasons, Waited: waited})
	}
	return nil
}

// reviewed applies a reviewer's decision to a case awaiting review: the final
// decision, its path ending with the reviewer's step. A decision on a case
// that awaits none is recorded in the audit trail and changes nothing.
func (d *desk) reviewed(c *topology.Context[Case], id string, r ReviewDecision) error {
	if r.Decision != Approved && r.Decision != Rejected {
		return fmt.Errorf("review of %s: decision %q, want %s or %s: %w", id, r.Decision, Approved, Rejected, topology.ErrPermanent)
	}
	cs, ok, err := c.State()
	if err != nil {
		return err
	}
	now := c.Now()
	if !ok || cs.Status != StatusAwaitingReview {
		if !ok {
			cs = Case{ID: id, Status: "unknown"}
		}
		note := fmt.Sprintf("%s by %s ignored: the case is %s", r.Decision, orSomeone(r.Reviewer), cs.Status)
		cs.Audit = append(cs.Audit, Audit{Time: now, Kind: KindReviewIgnored, Level: ReviewLevel, Note: note})
		if ok {
			if err := c.SetState(cs); err != nil {
				return err
			}
		}
		return topology.Emit(c, named(d.names, DeskEvents), id, DeskEvent{Kind: KindReviewIgnored, Time: now, Level: ReviewLevel, Reasons: []string{note}})
	}
	if err := c.CancelTimer(reviewTimer); err != nil {
		return err
	}
	finding := Finding{Decision: r.Decision, Confidence: 1}
	if r.Comment != "" {
		finding.Reasons = []string{r.Comment}
	}
	if r.Decision == Approved {
		finding.Decision = Pass
	}
	step := Step{Level: ReviewLevel, Time: now, Finding: finding, TimesSeen: 1, Reviewer: orSomeone(r.Reviewer)}
	path := append(slices.Clip(cs.Path), step)
	reasons := []string{fmt.Sprintf("%s %s after review: %s", orSomeone(r.Reviewer), r.Decision, r.Comment)}
	waited := now.Sub(cs.ReviewSince)
	if err := topology.Emit(c, named(d.names, DeskEvents), id, DeskEvent{Kind: KindReviewed, Time: now, Level: ReviewLevel,
		Reasons: reasons, Waited: waited}); err != nil {
		return err
	}
	cs.Path = path
	return d.decide(c, id, cs, FinalDecision{ApplicationID: id, VisaType: cs.VisaType, Decision: r.Decision,
		Reasons: reasons, Path: path, SubmittedAt: cs.SubmittedAt, DecidedAt: now})
}

func orSomeone(reviewer string) string {
	if strings.TrimSpace(reviewer) == "" {
		return "a reviewer"
	}
	return reviewer
}

// ParseSLA parses SLAs as a flag gives them: one duration for every level
// ("30s"), or LEVEL=DURATION pairs separated by commas ("A=10s,B=1m"); a
// duration of 0 is no SLA. It returns nil for no SLA at all.
func ParseSLA(s string) (map[string]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := map[string]time.Duration{}
	if !strings.Contains(s, "=") {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("SLA %q: want a duration such as 30s, or LEVEL=DURATION pairs such as A=10s,B=1m", s)
		}
		for _, l := range Levels {
			if d > 0 {
				out[l.Name] = d
			}
		}
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(pair), "=")
		l, known := LevelOf(name)
		d, err := time.ParseDuration(dur)
		if !ok || !known || err != nil || d < 0 {
			return nil, fmt.Errorf("SLA %q: %q is no LEVEL=DURATION with a level of %s and a duration such as 30s", s, pair, levelNames())
		}
		if d > 0 {
			out[l.Name] = d
		}
	}
	return out, nil
}
