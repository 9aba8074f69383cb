package inference

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadLogistic feeds arbitrary bytes to the logistic loader: it must
// either fail with ErrModel or return a model that keeps its invariants (one
// finite weight per distinct, named feature) and scores a probability.
func FuzzLoadLogistic(f *testing.F) {
	for _, s := range []string{
		`{"name":"m","version":"1","features":["a","b"],"intercept":-1,"weights":[0.5,2]}`,
		`{"name":"m","features":["a"],"intercept":0,"weights":[1,2]}`,
		`{"name":"m","features":["a","a"],"intercept":0,"weights":[1,2]}`,
		`{"name":"","features":[],"intercept":null,"weights":null}`,
		`{"name":"m","features":["a"],"intercept":1e308,"weights":[1e308]}`,
		`{}`, `[]`, `null`, ``, "\xff", `{"name":"m"} {}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "m.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := LoadLogistic(p)
		if err != nil {
			if !errors.Is(err, ErrModel) {
				t.Fatalf("LoadLogistic(%q) = %v, want an error wrapping ErrModel", b, err)
			}
			return
		}
		l := m.(*Logistic)
		if l.name == "" || l.version == "" || len(l.weights) != len(l.features) || checkFeatures(l.features) != "" {
			t.Fatalf("LoadLogistic(%q) accepted an invalid model: %+v", b, l)
		}
		x := make([]float64, len(l.features))
		for i := range x {
			x[i] = 1
		}
		p1, err := m.Predict(x)
		if err != nil || math.IsNaN(p1) || p1 < 0 || p1 > 1 {
			t.Fatalf("Predict(ones) of %q = %v, %v, want a probability", b, p1, err)
		}
	})
}
