package visa

import "time"

// Document is an application on its way through the levels: what flows on the
// scrutiny queues. Level A creates it; each level appends its [Step] to Path and
// pops its next hop off Slip.
type Document struct {
	Application Application `json:"application"`
	// Slip is the routing slip: the queues still to visit, next first. Level A
	// writes it from the application's [Route]; the level that finds it empty is
	// the last and approves.
	Slip []string `json:"slip"`
	// Path is what each level found so far, in order.
	Path []Step `json:"path"`
	// ReceivedAt is the timestamp of the application's record on [Applications]:
	// when it was submitted to the pipeline.
	ReceivedAt time.Time `json:"received_at"`
}

// Step is one level's entry in a document's path.
type Step struct {
	Level   string    `json:"level"`
	Time    time.Time `json:"time"`
	Finding Finding   `json:"finding"`
	// TimesSeen is how many times this level has seen the application, this time
	// included, from its memory: more than 1 for a resubmission or a record
	// delivered again after a crash.
	TimesSeen int `json:"times_seen"`
	// Note says what the level remembered, when it had seen the application before.
	Note string `json:"note,omitempty"`
	// Reviewer names the person who decided, on the step of a review (Level
	// [ReviewLevel]).
	Reviewer string `json:"reviewer,omitempty"`
}

// FinalDecision is what [Final] carries: one per application, keyed by its ID.
type FinalDecision struct {
	ApplicationID string `json:"application_id"`
	VisaType      string `json:"visa_type"`
	// Decision is [Approved], [Rejected] or [NeedsReview].
	Decision string `json:"decision"`
	// Reasons say why: the reasons of the level that ended the path, or for an
	// approval those any level noted while passing it.
	Reasons []string `json:"reasons"`
	// Path is every level that handled the application, in order.
	Path        []Step    `json:"path"`
	SubmittedAt time.Time `json:"submitted_at"`
	DecidedAt   time.Time `json:"decided_at"`
}
