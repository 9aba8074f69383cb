package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/processors/inference"
)

// TestModel pins the compiled-in model's inputs and that its hand-set weights
// tell the generator's typical sessions apart.
func TestModel(t *testing.T) {
	m, err := loadModel("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{FeatureClicks5m, FeatureTxnCount1h, FeatureAvgTxn1h, FeatureMaxTxn24h}
	if got := m.Features(); !slices.Equal(got, want) {
		t.Fatalf("features %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name     string
		x        []float64
		min, max float64
	}{
		{"one normal session", []float64{4, 1, 40, 60}, 0, 0.01},
		{"a busy normal user", []float64{14, 6, 50, 150}, 0, 0.1},
		{"a normal user's big purchase", []float64{4, 1, 1500, 1500}, 0, 0.2},
		{"a click burst alone", []float64{30, 1, 40, 60}, 0, 0.1},
		{"a fraud-ish burst", []float64{27, 5, 1600, 2800}, 0.95, 1},
		{"a smaller fraud-ish burst", []float64{20, 4, 1200, 2000}, 0.5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := m.Predict(tc.x)
			if err != nil || s < tc.min || s > tc.max {
				t.Errorf("Predict(%v) = %v, %v; want a score in [%v, %v]", tc.x, s, err, tc.min, tc.max)
			}
		})
	}
}

// TestLoadModelFile pins that --model reads a file, and that a bad one fails
// with inference.ErrModel.
func TestLoadModelFile(t *testing.T) {
	m, err := loadModel(filepath.Join("model", "fraud.json"))
	if err != nil || m.Name() != "fraud-demo" {
		t.Fatalf("loadModel(model/fraud.json) = %v, %v; want the fraud-demo model", m, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": "x", "intercept": 0, "features": ["a"], "weights": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadModel(bad); !errors.Is(err, inference.ErrModel) {
		t.Errorf("loadModel(%s) = %v, want ErrModel", bad, err)
	}
}
