package visa_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

// TestRules pins each level's rules: the valid fixture passes, and each defect
// gets the decision and a reason naming it.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		level    string
		app      func() visa.Application
		decision string
		reason   string // a substring of the first reason; "" for none
	}{
		{"A valid tourist", "A", func() visa.Application { return valid("a1", "tourist") }, visa.Pass, ""},
		{"A missing fields", "A", func() visa.Application {
			a := valid("a1", "tourist")
			a.Applicant.Name, a.Passport.Number = " ", ""
			return a
		}, visa.Rejected, "missing applicant.name, passport.number"},
		{"A student without enrolment letter", "A", func() visa.Application {
			a := valid("a1", "student")
			a.Enrolment = nil
			return a
		}, visa.Rejected, "missing enrolment_letter"},
		{"A expired passport", "A", func() visa.Application {
			a := valid("a1", "tourist")
			a.Passport.Expiry = day(0)
			return a
		}, visa.Rejected, "passport expired on 2026-03-02"},
		{"A passport expires too soon after the stay", "A", func() visa.Application {
			a := valid("a1", "tourist")
			a.Passport.Expiry = day(a.StayDays + visa.PassportMarginDays - 1)
			return a
		}, visa.Rejected, "less than 90 days after the stay ends"},
		{"A passport valid just long enough", "A", func() visa.Application {
			a := valid("a1", "tourist")
			a.Passport.Expiry = day(a.StayDays + visa.PassportMarginDays)
			return a
		}, visa.Pass, ""},
		{"A odd passport number", "A", func() visa.Application {
			a := valid("a1", "tourist")
			a.Passport.Number = "ab-12"
			return a
		}, visa.NeedsReview, "no known format"},
		{"A birth date after submission", "A", func() visa.Application {
			a := valid("a1", "tourist")
			a.Applicant.BirthDate = day(1)
			return a
		}, visa.NeedsReview, "implausible birth date"},
		{"B enough funds", "B", func() visa.Application { return valid("a1", "business") }, visa.Pass, ""},
		{"B funds one euro short", "B", func() visa.Application {
			a := valid("a1", "business")
			a.Funds = 150*a.StayDays - 1
			return a
		}, visa.Rejected, "funds of 2999 EUR are below the 3000 EUR needed for 20 days"},
		{"B funds with little margin", "B", func() visa.Application {
			a := valid("a1", "business")
			a.Funds = 150 * a.StayDays
			return a
		}, visa.Pass, "less than 20% to spare"},
		{"B stay too long", "B", func() visa.Application {
			a := valid("a1", "business")
			a.StayDays, a.Funds = 181, 1_000_000
			return a
		}, visa.Rejected, "exceeds the 180-day maximum"},
		{"B unknown type gets the default policy", "B", func() visa.Application {
			a := valid("a1", "diplomatic")
			a.StayDays, a.Funds = 91, 1_000_000
			return a
		}, visa.Rejected, "exceeds the 90-day maximum"},
		{"C valid letter", "C", func() visa.Application { return valid("a1", "business") }, visa.Pass, ""},
		{"C no letter", "C", func() visa.Application {
			a := valid("a1", "business")
			a.Invitation = nil
			return a
		}, visa.Rejected, "no invitation letter"},
		{"C letter without issuer", "C", func() visa.Application {
			a := valid("a1", "business")
			a.Invitation.Issuer = ""
			return a
		}, visa.NeedsReview, "does not name its issuer"},
		{"C letter dated after the application", "C", func() visa.Application {
			a := valid("a1", "business")
			a.Invitation.IssuedOn = day(3)
			return a
		}, visa.NeedsReview, "after the application"},
		{"C stale letter", "C", func() visa.Application {
			a := valid("a1", "business")
			a.Invitation.IssuedOn = day(-visa.LetterMaxAgeDays - 1)
			return a
		}, visa.Rejected, "more than 180 days old"},
		{"D clean history", "D", func() visa.Application { return valid("a1", "student") }, visa.Pass, ""},
		{"D one refusal is noted", "D", func() visa.Application {
			a := valid("a1", "student")
			a.PriorRefusals = 1
			return a
		}, visa.Pass, "1 prior refusal noted"},
		{"D two refusals go to an officer", "D", func() visa.Application {
			a := valid("a1", "student")
			a.PriorRefusals = 2
			return a
		}, visa.NeedsReview, "2 prior refusals"},
		{"D three refusals", "D", func() visa.Application {
			a := valid("a1", "student")
			a.PriorRefusals = 3
			return a
		}, visa.Rejected, "3 prior refusals"},
		{"D overstay", "D", func() visa.Application {
			a := valid("a1", "student")
			a.PriorOverstay = true
			return a
		}, visa.Rejected, "overstayed"},
		{"E valid certificate", "E", func() visa.Application { return valid("a1", "work") }, visa.Pass, ""},
		{"E no certificate", "E", func() visa.Application {
			a := valid("a1", "work")
			a.Medical = nil
			return a
		}, visa.Rejected, "no medical certificate"},
		{"E not fit", "E", func() visa.Application {
			a := valid("a1", "work")
			a.Medical.Fit = false
			return a
		}, visa.NeedsReview, "does not state fitness"},
		{"unknown level", "F", func() visa.Application { return valid("a1", "work") }, visa.NeedsReview, `no rules for level "F"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := visa.Rules{}.Decide(context.Background(), tc.level, tc.app())
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if f.Decision != tc.decision {
				t.Fatalf("decision = %q (reasons %q), want %q", f.Decision, f.Reasons, tc.decision)
			}
			if tc.reason == "" {
				if len(f.Reasons) != 0 {
					t.Errorf("reasons = %q, want none", f.Reasons)
				}
				return
			}
			if len(f.Reasons) == 0 || !strings.Contains(f.Reasons[0], tc.reason) {
				t.Errorf("reasons = %q, want one containing %q", f.Reasons, tc.reason)
			}
			if f.Decision != visa.Pass && f.Confidence <= 0 {
				t.Errorf("confidence = %v, want > 0", f.Confidence)
			}
		})
	}
}
