package visa

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Policy holds the figures the rules apply to one visa type.
type Policy struct {
	// DailyFunds is the money an applicant must show per day of stay, in euros.
	DailyFunds int
	// MaxStayDays is the longest stay the visa allows.
	MaxStayDays int
}

// Policies are the figures per visa type; a type not listed gets
// [DefaultPolicy].
var Policies = map[string]Policy{
	"tourist":  {DailyFunds: 100, MaxStayDays: 90},
	"business": {DailyFunds: 150, MaxStayDays: 180},
	"student":  {DailyFunds: 35, MaxStayDays: 4 * 365},
	"work":     {DailyFunds: 50, MaxStayDays: 3 * 365},
}

// DefaultPolicy applies to a visa type missing from [Policies].
var DefaultPolicy = Policy{DailyFunds: 100, MaxStayDays: 90}

// Rule thresholds.
const (
	// PassportMarginDays is how long a passport must stay valid after the stay ends.
	PassportMarginDays = 90
	// LetterMaxAgeDays is the oldest a letter or certificate may be on submission.
	LetterMaxAgeDays = 180
	// FundsMargin is the share above the funds needed below which a pass is noted.
	FundsMargin = 0.2
)

// Rules is the deterministic, rule-based [Decider]: each level applies fixed
// checks to the application (see [Levels]), with the application's SubmittedAt as
// "now", so the same application always gets the same finding. The zero Rules is
// ready to use and safe for concurrent use.
type Rules struct{}

// Decide applies the rules of level to app. It never returns an error; a level it
// has no rules for gets a needs_review finding.
func (Rules) Decide(_ context.Context, level string, app Application) (Finding, error) {
	switch level {
	case "A":
		return ruleA(app), nil
	case "B":
		return ruleB(app), nil
	case "C":
		return ruleC(app), nil
	case "D":
		return ruleD(app), nil
	case "E":
		return ruleE(app), nil
	}
	return review("no rules for level %q", level), nil
}

func pass(reasons ...string) Finding {
	if len(reasons) > 0 {
		return Finding{Decision: Pass, Reasons: reasons, Confidence: 0.8}
	}
	return Finding{Decision: Pass, Confidence: 1}
}

func reject(format string, args ...any) Finding {
	return Finding{Decision: Rejected, Reasons: []string{fmt.Sprintf(format, args...)}, Confidence: 1}
}

func review(format string, args ...any) Finding {
	return Finding{Decision: NeedsReview, Reasons: []string{fmt.Sprintf(format, args...)}, Confidence: 0.5}
}

// passportNumber is the format of passport numbers the rules know: 6 to 9
// capital letters and digits.
var passportNumber = regexp.MustCompile(`^[A-Z0-9]{6,9}$`)

// ruleA checks completeness and the passport's validity.
func ruleA(app Application) Finding {
	var missing []string
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"application_id", app.ApplicationID == ""},
		{"visa_type", app.VisaType == ""},
		{"submitted_at", app.SubmittedAt.IsZero()},
		{"applicant.name", strings.TrimSpace(app.Applicant.Name) == ""},
		{"applicant.nationality", app.Applicant.Nationality == ""},
		{"applicant.birth_date", app.Applicant.BirthDate.IsZero()},
		{"passport.number", app.Passport.Number == ""},
		{"passport.expiry", app.Passport.Expiry.IsZero()},
		{"stay_length_days", app.StayDays <= 0},
		{"enrolment_letter", app.VisaType == "student" && app.Enrolment == nil},
	} {
		if f.missing {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return reject("incomplete application: missing %s", strings.Join(missing, ", "))
	}
	now := DateOf(app.SubmittedAt)
	if !passportNumber.MatchString(app.Passport.Number) {
		return review("passport number %q is in no known format", app.Passport.Number)
	}
	if b := app.Applicant.BirthDate; b.After(now.Time) || b.Before(now.AddDate(-120, 0, 0)) {
		return review("implausible birth date %s", b.Format(time.DateOnly))
	}
	exp := app.Passport.Expiry
	if !exp.After(now.Time) {
		return reject("passport expired on %s", exp.Format(time.DateOnly))
	}
	if need := now.AddDate(0, 0, app.StayDays+PassportMarginDays); exp.Before(need) {
		return reject("passport expires on %s, less than %d days after the stay ends", exp.Format(time.DateOnly), PassportMarginDays)
	}
	return pass()
}

func policy(visaType string) Policy {
	if p, ok := Policies[visaType]; ok {
		return p
	}
	return DefaultPolicy
}

// ruleB checks the funds against the length of the stay.
func ruleB(app Application) Finding {
	p := policy(app.VisaType)
	if app.StayDays > p.MaxStayDays {
		return reject("a stay of %d days exceeds the %d-day maximum of a %s visa", app.StayDays, p.MaxStayDays, app.VisaType)
	}
	need := p.DailyFunds * app.StayDays
	if app.Funds < need {
		return reject("funds of %d EUR are below the %d EUR needed for %d days", app.Funds, need, app.StayDays)
	}
	if float64(app.Funds) < float64(need)*(1+FundsMargin) {
		return pass(fmt.Sprintf("funds of %d EUR cover the %d EUR needed with less than %.0f%% to spare", app.Funds, need, FundsMargin*100))
	}
	return pass()
}

// ruleC checks the invitation letter.
func ruleC(app Application) Finding {
	l := app.Invitation
	if l == nil {
		return reject("no invitation letter from a host company")
	}
	if strings.TrimSpace(l.Issuer) == "" || strings.TrimSpace(l.Reference) == "" {
		return review("invitation letter does not name its issuer and reference")
	}
	if f, bad := letterAge("invitation letter", l.IssuedOn, app.SubmittedAt); bad {
		return f
	}
	return pass()
}

// letterAge checks that a document was issued before submission and not too long
// before.
func letterAge(what string, issued Date, submitted time.Time) (Finding, bool) {
	now := DateOf(submitted)
	switch {
	case issued.IsZero():
		return review("%s has no date", what), true
	case issued.After(now.Time):
		return review("%s is dated %s, after the application", what, issued.Format(time.DateOnly)), true
	case issued.Before(now.AddDate(0, 0, -LetterMaxAgeDays)):
		return reject("%s issued on %s is more than %d days old", what, issued.Format(time.DateOnly), LetterMaxAgeDays), true
	}
	return Finding{}, false
}

// ruleD weighs the applicant's history: the final risk assessment.
func ruleD(app Application) Finding {
	switch n := app.PriorRefusals; {
	case app.PriorOverstay:
		return reject("applicant overstayed a previous visa")
	case n >= 3:
		return reject("%d prior refusals", n)
	case n == 2:
		return review("2 prior refusals: an officer decides")
	case n == 1:
		return pass("1 prior refusal noted")
	}
	return pass()
}

// ruleE checks the medical certificate.
func ruleE(app Application) Finding {
	m := app.Medical
	if m == nil {
		return reject("no medical certificate")
	}
	if f, bad := letterAge("medical certificate", m.IssuedOn, app.SubmittedAt); bad {
		return f
	}
	if !m.Fit {
		return review("medical certificate from %s does not state fitness for work", m.Clinic)
	}
	return pass()
}
