package visa

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// GeneratorConfig says what a [Generator] produces.
type GeneratorConfig struct {
	// Mix is the share of each visa type; nil means [DefaultMix].
	Mix Mix
	// Invalid is the percentage of applications given one defect that a level on
	// their route rejects: an expired passport, too little money, a missing letter.
	Invalid float64
	// Malformed is the percentage of records that are not JSON at all: level A
	// dead-letters them.
	Malformed float64
	// Prefix starts every application ID: "PREFIX-000001". Empty means "V".
	Prefix string
	// Seed makes the sequence reproducible; 0 picks one at random.
	Seed uint64
	// Routes tell which levels each visa type meets, so that a defect is one its
	// route checks; nil means [DefaultRoutes] and [WorkRoute].
	Routes []Route
	// Now is the submission time of the applications; nil means time.Now.
	Now func() time.Time
}

// Item is one generated record.
type Item struct {
	// ID is the record key: the application's ID.
	ID string
	// App is the application; zero for a malformed record.
	App Application
	// Raw is the value of a malformed record, nil otherwise.
	Raw []byte
	// Defect names what was made wrong in an invalid application, "" if nothing.
	Defect string
	// DefectLevel is the level whose rules catch the defect.
	DefectLevel string
}

// Generator makes realistic random visa applications. It is not safe for
// concurrent use.
type Generator struct {
	c      GeneratorConfig
	rng    *rand.Rand
	levels map[string][]string // visa type -> levels its route visits
	n      int
}

// NewGenerator returns a generator for c. It fails for percentages outside
// [0, 100].
func NewGenerator(c GeneratorConfig) (*Generator, error) {
	if c.Mix == nil {
		c.Mix = DefaultMix
	}
	if c.Mix.total() <= 0 {
		return nil, errors.New("generator: mix with no visa type above 0%")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"invalid", c.Invalid}, {"malformed", c.Malformed}} {
		if p.v < 0 || p.v > 100 {
			return nil, fmt.Errorf("generator: %s share %v%% is not between 0 and 100", p.name, p.v)
		}
	}
	if c.Prefix == "" {
		c.Prefix = "V"
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Routes == nil {
		c.Routes = append(slices.Clone(DefaultRoutes), WorkRoute)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	g := &Generator{c: c, rng: rand.New(rand.NewPCG(c.Seed, 0x5a17)), levels: map[string][]string{}}
	for _, r := range c.Routes {
		ls := []string{"A"}
		for _, h := range r.Hops {
			if l, ok := levelOfQueue(h); ok {
				ls = append(ls, l.Name)
			}
		}
		g.levels[r.VisaType] = ls
	}
	return g, nil
}

// Next returns the next record.
func (g *Generator) Next() Item {
	g.n++
	id := fmt.Sprintf("%s-%06d", g.c.Prefix, g.n)
	malformed := g.chance(g.c.Malformed)
	app := g.application(id, g.c.Mix.pick(g.rng.Float64()))
	if malformed {
		b, _ := json.Marshal(app)
		// Cut inside the object: never valid JSON.
		return Item{ID: id, Raw: b[:1+g.rng.IntN(len(b)-2)]}
	}
	it := Item{ID: id, App: app}
	if g.chance(g.c.Invalid) {
		d := g.defectFor(app.VisaType)
		d.apply(g, &it.App)
		it.Defect, it.DefectLevel = d.name, d.level
	}
	return it
}

func (g *Generator) chance(percent float64) bool { return g.rng.Float64()*100 < percent }

// defect is one way to make an application invalid, and the level that catches it.
type defect struct {
	name  string
	level string
	apply func(g *Generator, a *Application)
}

var defects = []defect{
	{"expired passport", "A", func(g *Generator, a *Application) {
		a.Passport.Expiry = DateOf(a.SubmittedAt.AddDate(0, 0, -1-g.rng.IntN(700)))
	}},
	{"passport expires during the stay", "A", func(g *Generator, a *Application) {
		a.Passport.Expiry = DateOf(a.SubmittedAt.AddDate(0, 0, 1+g.rng.IntN(a.StayDays+PassportMarginDays-1)))
	}},
	{"missing applicant name", "A", func(_ *Generator, a *Application) { a.Applicant.Name = "" }},
	{"insufficient funds", "B", func(g *Generator, a *Application) {
		a.Funds = policy(a.VisaType).DailyFunds * a.StayDays * (20 + g.rng.IntN(70)) / 100
	}},
	{"stay too long", "B", func(g *Generator, a *Application) {
		a.StayDays = policy(a.VisaType).MaxStayDays + 1 + g.rng.IntN(60)
		a.Funds = policy(a.VisaType).DailyFunds * a.StayDays * 2
		a.Passport.Expiry = DateOf(a.SubmittedAt.AddDate(0, 0, a.StayDays+PassportMarginDays+400))
	}},
	{"no invitation letter", "C", func(_ *Generator, a *Application) { a.Invitation = nil }},
	{"stale invitation letter", "C", func(g *Generator, a *Application) {
		if a.Invitation == nil {
			a.Invitation = &Letter{Issuer: g.pickOf(companies), Reference: "REF-00001"}
		}
		a.Invitation.IssuedOn = DateOf(a.SubmittedAt.AddDate(0, 0, -LetterMaxAgeDays-1-g.rng.IntN(300)))
	}},
	{"three prior refusals", "D", func(g *Generator, a *Application) { a.PriorRefusals = 3 + g.rng.IntN(3) }},
	{"prior overstay", "D", func(_ *Generator, a *Application) { a.PriorOverstay = true }},
	{"no medical certificate", "E", func(_ *Generator, a *Application) { a.Medical = nil }},
}

// defectFor picks a defect that a level on the route of visaType catches.
func (g *Generator) defectFor(visaType string) defect {
	levels, ok := g.levels[visaType]
	if !ok {
		levels = []string{"A"}
	}
	var fit []defect
	for _, d := range defects {
		if slices.Contains(levels, d.level) {
			fit = append(fit, d)
		}
	}
	return fit[g.rng.IntN(len(fit))]
}

// Word lists for realistic applications.
var (
	firstNames = []string{"Amara", "Bao", "Carlos", "Dmitri", "Elif", "Farah", "Giulia", "Hiroshi", "Ines", "Jamal",
		"Kavya", "Lars", "Mei", "Nikolai", "Olu", "Priya", "Quentin", "Rosa", "Sipho", "Tomasz", "Ugo", "Valentina",
		"Wei", "Ximena", "Yusuf", "Zanele"}
	lastNames = []string{"Adeyemi", "Bergström", "Chen", "Da Silva", "Eriksen", "Fernández", "García", "Haddad",
		"Ivanova", "Jensen", "Kowalski", "Le", "Müller", "Nakamura", "Okafor", "Patel", "Rossi", "Santos", "Tanaka",
		"Usman", "Van Dijk", "Wójcik", "Yilmaz", "Zhang"}
	nationalities = []string{"BRA", "CAN", "CHN", "COL", "EGY", "GHA", "IDN", "IND", "JPN", "KEN", "MAR", "MEX",
		"NGA", "PAK", "PER", "PHL", "TUR", "UKR", "USA", "VNM", "ZAF"}
	companies = []string{"Nordwind Logistics GmbH", "Atelier Lumière SA", "Helix Biotech BV", "Porto Digital Lda",
		"Kestrel Aerospace Ltd", "Vltava Systems s.r.o."}
	schools = []string{"Universität Heidelberg", "Université de Lyon", "Politecnico di Milano",
		"Universidad de Salamanca", "TU Delft", "Uniwersytet Jagielloński"}
	clinics = []string{"Clinique du Parc", "MediCheck Center", "St. Anna Ambulatorium", "Centro Medico Aurora"}
)

// stays are the shortest and longest stays generated per visa type, within
// each type's [Policy].
var stays = map[string][2]int{
	"tourist":  {3, 30},
	"business": {2, 60},
	"student":  {90, 365},
	"work":     {180, 730},
}

func (g *Generator) pickOf(list []string) string { return list[g.rng.IntN(len(list))] }

// application returns a valid application of visaType: one that passes the rules
// of every level, but for a few whose history or funds a level notes or sends to
// review, as in life.
func (g *Generator) application(id, visaType string) Application {
	now := g.c.Now().UTC()
	today := DateOf(now)
	st, ok := stays[visaType]
	if !ok {
		st = [2]int{7, 30}
	}
	stay := st[0] + g.rng.IntN(st[1]-st[0]+1)
	need := policy(visaType).DailyFunds * stay
	funds := need * (130 + g.rng.IntN(170)) / 100
	if g.chance(5) {
		funds = need * (101 + g.rng.IntN(18)) / 100 // enough, barely: level B notes it
	}
	first, last := g.pickOf(firstNames), g.pickOf(lastNames)
	a := Application{
		ApplicationID: id,
		VisaType:      visaType,
		SubmittedAt:   now,
		Applicant: Applicant{
			Name:        first + " " + last,
			Nationality: g.pickOf(nationalities),
			BirthDate:   DateOf(today.AddDate(-18-g.rng.IntN(55), -g.rng.IntN(12), -g.rng.IntN(28))),
			Email:       strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + "@example.org",
		},
		Passport: Passport{
			Number: fmt.Sprintf("%c%c%07d", 'A'+rune(g.rng.IntN(26)), 'A'+rune(g.rng.IntN(26)), g.rng.IntN(10_000_000)),
			Expiry: DateOf(today.AddDate(0, 0, stay+PassportMarginDays+30+g.rng.IntN(3000))),
		},
		StayDays: stay,
		Funds:    funds,
	}
	letter := func(issuer string) *Letter {
		return &Letter{Issuer: issuer, Reference: fmt.Sprintf("REF-%05d", g.rng.IntN(100_000)),
			IssuedOn: DateOf(today.AddDate(0, 0, -5-g.rng.IntN(120)))}
	}
	switch visaType {
	case "business":
		a.Invitation = letter(g.pickOf(companies))
	case "student":
		a.Enrolment = letter(g.pickOf(schools))
	case "work":
		a.Invitation = letter(g.pickOf(companies))
		a.Medical = &MedicalCertificate{Clinic: g.pickOf(clinics), IssuedOn: DateOf(today.AddDate(0, 0, -3-g.rng.IntN(90))), Fit: true}
	}
	switch x := g.rng.Float64() * 100; {
	case x < 1.5:
		a.PriorRefusals = 2 // level D sends it to review
	case x < 5.5:
		a.PriorRefusals = 1 // level D notes it
	}
	return a
}
