package visa_test

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

func generator(t *testing.T, c visa.GeneratorConfig) *visa.Generator {
	t.Helper()
	if c.Now == nil {
		c.Now = func() time.Time { return submitted }
	}
	g, err := visa.NewGenerator(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGeneratorShares pins what the generator promises: the mix, the invalid and
// malformed shares, and that each invalid application is rejected by the level
// its defect names while valid ones are never rejected.
func TestGeneratorShares(t *testing.T) {
	mix, _ := visa.ParseMix("tourist=40,business=25,student=20,work=15")
	g := generator(t, visa.GeneratorConfig{Mix: mix, Invalid: 10, Malformed: 2, Seed: 7, Prefix: "T"})
	routes := append(slices.Clone(visa.DefaultRoutes), visa.WorkRoute)
	const n = 10_000
	types := map[string]int{}
	var invalid, malformed, review int
	for i := range n {
		it := g.Next()
		if want := "T-" + pad6(i+1); it.ID != want {
			t.Fatalf("item %d ID = %q, want %q", i, it.ID, want)
		}
		if it.Raw != nil {
			malformed++
			var a visa.Application
			if err := json.Unmarshal(it.Raw, &a); err == nil {
				t.Fatalf("malformed item %s decodes: %q", it.ID, it.Raw)
			}
			continue
		}
		types[it.App.VisaType]++
		r, ok := routeOf(routes, it.App.VisaType)
		decision, levels := expect(it.App, r, ok)
		switch {
		case it.Defect != "":
			invalid++
			if decision != visa.Rejected || levels[len(levels)-1] != it.DefectLevel {
				t.Errorf("%s with defect %q: %s at level %s, want rejected at level %s", it.ID, it.Defect, decision, levels[len(levels)-1], it.DefectLevel)
			}
		case decision == visa.Rejected:
			t.Errorf("valid %s (%s) rejected at level %s", it.ID, it.App.VisaType, levels[len(levels)-1])
		case decision == visa.NeedsReview:
			review++
		}
	}
	near := func(what string, got int, wantPct float64, of int) {
		t.Helper()
		if want := wantPct / 100 * float64(of); math.Abs(float64(got)-want) > 0.15*want+10 {
			t.Errorf("%s = %d, want about %.0f", what, got, want)
		}
	}
	near("malformed", malformed, 2, n)
	near("invalid", invalid, 10, n-malformed)
	for _, sh := range mix {
		near(sh.VisaType, types[sh.VisaType], sh.Percent, n-malformed)
	}
	t.Logf("%d malformed, %d invalid, %d valid sent to review by their history, types %v", malformed, invalid, review, types)
}

// TestGeneratorReproducible pins that a seed gives the same sequence.
func TestGeneratorReproducible(t *testing.T) {
	a := generator(t, visa.GeneratorConfig{Invalid: 50, Malformed: 10, Seed: 42})
	b := generator(t, visa.GeneratorConfig{Invalid: 50, Malformed: 10, Seed: 42})
	for range 200 {
		x, y := a.Next(), b.Next()
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		if string(jx) != string(jy) {
			t.Fatalf("same seed, different items:\n%s\n%s", jx, jy)
		}
	}
}

// TestGeneratorConfig pins the rejected settings.
func TestGeneratorConfig(t *testing.T) {
	for _, c := range []visa.GeneratorConfig{
		{Invalid: -1}, {Invalid: 101}, {Malformed: 100.5}, {Mix: visa.Mix{{VisaType: "tourist", Percent: 0}}},
	} {
		if _, err := visa.NewGenerator(c); err == nil {
			t.Errorf("NewGenerator(%+v) = nil error, want one", c)
		}
	}
}

func pad6(n int) string {
	s := "000000" + itoa(n)
	return s[len(s)-6:]
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
