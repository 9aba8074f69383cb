package inference_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/processors/inference"
)

func TestLoadLogistic(t *testing.T) {
	m, err := inference.LoadLogistic(filepath.Join("testdata", "logistic", "fraud.json"))
	if err != nil {
		t.Fatalf("LoadLogistic: %v", err)
	}
	if m.Name() != "fraud" || m.Version() != "3" {
		t.Errorf("Name, Version = %q, %q, want fraud, 3", m.Name(), m.Version())
	}
	want := []string{"clicks_5m", "txn_count_1h", "avg_txn_value_1h", "max_txn_value_24h"}
	if got := m.Features(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Features() = %v, want %v", got, want)
	}
	sigmoid := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	for _, tc := range []struct {
		name string
		x    []float64
		want float64
	}{
		{"zeros", []float64{0, 0, 0, 0}, sigmoid(-3)},
		{"values", []float64{10, 2, 50, 500}, sigmoid(-3 + 0.5 + 0.8 + 0.5 + 1)},
		{"missing counts as 0", []float64{10, math.NaN(), 50, math.NaN()}, sigmoid(-3 + 0.5 + 0.5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Predict(tc.x)
			if err != nil || math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("Predict(%v) = %v, %v, want %v", tc.x, got, err, tc.want)
			}
		})
	}
	if _, err := m.Predict([]float64{1, 2}); err == nil {
		t.Error("Predict with 2 of 4 values succeeded, want an error")
	}
}

// TestLoadLogisticVersion pins the default version: a hash of the file, so
// that editing a weight changes it.
func TestLoadLogisticVersion(t *testing.T) {
	dir := t.TempDir()
	load := func(weight string) string {
		p := filepath.Join(dir, "m.json")
		if err := os.WriteFile(p, []byte(`{"name":"m","features":["a"],"intercept":0,"weights":[`+weight+`]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := inference.LoadLogistic(p)
		if err != nil {
			t.Fatal(err)
		}
		return m.Version()
	}
	v1, v2 := load("1"), load("2")
	if len(v1) != 12 || v1 == v2 {
		t.Errorf("versions %q and %q: want 12 hex digits, different for different weights", v1, v2)
	}
}

func TestLoadLogisticErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"malformed JSON", `{"name": "m", "features": ["a"],`, "invalid JSON"},
		{"not an object", `[1, 2]`, "invalid JSON"},
		{"empty file", ``, "invalid JSON"},
		{"trailing data", `{"name":"m","features":["a"],"intercept":0,"weights":[1]} {}`, "data after the model"},
		{"unknown field", `{"name":"m","features":["a"],"intercept":0,"weights":[1],"wieghts":[2]}`, `unknown field "wieghts"`},
		{"wrong type", `{"name":"m","features":["a"],"intercept":"0","weights":[1]}`, "invalid JSON"},
		{"more weights than features", `{"name":"m","features":["a"],"intercept":0,"weights":[1,2]}`, "2 weights for 1 features"},
		{"fewer weights than features", `{"name":"m","features":["a","b","c"],"intercept":0,"weights":[1]}`, "1 weights for 3 features"},
		{"no name", `{"features":["a"],"intercept":0,"weights":[1]}`, `"name" is missing`},
		{"no intercept", `{"name":"m","features":["a"],"weights":[1]}`, `"intercept" is missing`},
		{"no features", `{"name":"m","features":[],"intercept":0,"weights":[]}`, "no features"},
		{"empty feature name", `{"name":"m","features":["a"," "],"intercept":0,"weights":[1,2]}`, "feature 1 has an empty name"},
		{"duplicate feature", `{"name":"m","features":["a","a"],"intercept":0,"weights":[1,2]}`, `"a" is named twice`},
		{"huge weight", `{"name":"m","features":["a"],"intercept":0,"weights":[1e400]}`, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := inference.LoadLogistic(p)
			if !errors.Is(err, inference.ErrModel) {
				t.Fatalf("LoadLogistic = %v, %v, want ErrModel", m, err)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the file %s and say %q", err, p, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "nope.json")
		_, err := inference.LoadLogistic(p)
		if !errors.Is(err, inference.ErrModel) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Fatalf("LoadLogistic(missing) = %v, want ErrModel and ErrNotExist naming %s", err, p)
		}
	})
}
