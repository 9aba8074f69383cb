package visa

import (
	"context"
	"fmt"
)

// Decider decides one level's finding for an application. level is the level's
// name ("A", "B", ...; see [Levels]). A non-nil error means no finding could be
// made: the level's handler fails, the record is retried and then dead-lettered
// (see topology.Retries); a Decider that can tell a lasting failure from a passing
// one returns a needs_review finding for the former instead.
//
// Decide is called from the handlers of every level at once, so it must be safe
// for concurrent use. ctx is done when the level's agent stops.
type Decider interface {
	Decide(ctx context.Context, level string, app Application) (Finding, error)
}

// Finding is one level's conclusion about an application.
type Finding struct {
	// Decision is [Pass] (send the application on, or approve it at the last
	// level), [Rejected] or [NeedsReview]; the last two end its path.
	Decision string `json:"decision"`
	// Reasons say why, one short sentence each; required unless Decision is Pass.
	Reasons []string `json:"reasons,omitempty"`
	// Confidence is how sure the Decider is, from 0 to 1.
	Confidence float64 `json:"confidence"`
}

// Decisions a level's [Finding] can hold, and the outcomes of a [FinalDecision].
const (
	// Pass sends the application to its next hop, or approves it at its last level.
	Pass = "pass"
	// Rejected ends the path with a refusal.
	Rejected = "rejected"
	// NeedsReview ends the path for a person to decide.
	NeedsReview = "needs_review"
	// Approved is the final decision of an application that passed every level
	// of its route.
	Approved = "approved"
)

// check returns an error if f cannot be acted on: an unknown decision, or an
// ending one without a reason.
func (f Finding) check() error {
	switch f.Decision {
	case Pass:
		return nil
	case Rejected, NeedsReview:
		if len(f.Reasons) == 0 {
			return fmt.Errorf("decision %q without a reason", f.Decision)
		}
		return nil
	}
	return fmt.Errorf("unknown decision %q (want %s, %s or %s)", f.Decision, Pass, Rejected, NeedsReview)
}

// ByLevel is a [Decider] that hands each level to its own Decider, so that levels
// can mix implementations: rules for most, a model for one. A level it has no
// Decider for gets a needs_review finding saying so.
type ByLevel map[string]Decider

// Decide calls the Decider of level.
func (b ByLevel) Decide(ctx context.Context, level string, app Application) (Finding, error) {
	d, ok := b[level]
	if !ok || d == nil {
		return Finding{Decision: NeedsReview, Reasons: []string{fmt.Sprintf("no decider configured for level %s", level)}}, nil
	}
	return d.Decide(ctx, level, app)
}
