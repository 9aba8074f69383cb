package visa_test

import (
	"context"
	"slices"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

// submitted is the submission time of the fixtures: the rules' "now".
var submitted = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// day returns the day d days after submission (before, if d < 0).
func day(d int) visa.Date { return visa.DateOf(submitted.AddDate(0, 0, d)) }

// valid returns an application of visaType that passes every level's rules.
func valid(id, visaType string) visa.Application {
	a := visa.Application{
		ApplicationID: id,
		VisaType:      visaType,
		SubmittedAt:   submitted,
		Applicant:     visa.Applicant{Name: "Amara Okafor", Nationality: "NGA", BirthDate: day(-30 * 365)},
		Passport:      visa.Passport{Number: "AB1234567", Expiry: day(5 * 365)},
		StayDays:      20,
		Funds:         20 * 150 * 2,
	}
	letter := &visa.Letter{Issuer: "Helix Biotech BV", Reference: "REF-1", IssuedOn: day(-30)}
	switch visaType {
	case "business":
		a.Invitation = letter
	case "student":
		a.Enrolment = letter
		a.StayDays, a.Funds = 200, 200*35*2
	case "work":
		a.Invitation = letter
		a.Medical = &visa.MedicalCertificate{Clinic: "MediCheck Center", IssuedOn: day(-10), Fit: true}
	}
	return a
}

// expect runs the rules along route, as the pipeline would, and returns the final
// decision and the levels of the path. With no route (ok false), a pass at level A
// ends as needs_review.
func expect(app visa.Application, route visa.Route, ok bool) (decision string, levels []string) {
	levels = []string{"A"}
	for _, h := range route.Hops {
		levels = append(levels, h[len("scrutiny-queue-"):])
	}
	for i, l := range levels {
		f, _ := visa.Rules{}.Decide(context.Background(), l, app)
		if f.Decision != visa.Pass {
			return f.Decision, levels[:i+1]
		}
		if l == "A" && !ok {
			return visa.NeedsReview, levels[:1]
		}
	}
	return visa.Approved, levels
}

// routeOf returns the route of visaType among routes.
func routeOf(routes []visa.Route, visaType string) (visa.Route, bool) {
	i := slices.IndexFunc(routes, func(r visa.Route) bool { return r.VisaType == visaType })
	if i < 0 {
		return visa.Route{}, false
	}
	return routes[i], true
}

// pathLevels returns the levels of a path, in order.
func pathLevels(path []visa.Step) []string {
	var out []string
	for _, s := range path {
		out = append(out, s.Level)
	}
	return out
}
