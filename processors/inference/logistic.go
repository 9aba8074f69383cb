package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// logisticFile is the JSON form of a logistic regression.
type logisticFile struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Features  []string  `json:"features"`
	Intercept *float64  `json:"intercept"`
	Weights   []float64 `json:"weights"`
}

// Logistic is a logistic regression: the score is
// sigmoid(intercept + sum of weight[i]*feature[i]), a probability in [0, 1].
// A missing (NaN) feature contributes nothing, as if its value were 0.
type Logistic struct {
	name, version string
	features      []string
	intercept     float64
	weights       []float64
}

// LoadLogistic reads a logistic regression from the JSON file at path:
//
//	{"name": "fraud", "version": "3", "features": ["clicks_5m", "txn_count_1h"],
//	 "intercept": -2.5, "weights": [0.1, 0.4]}
//
// name and intercept are required; features must be non-empty and distinct,
// with one finite weight each. An empty version defaults to the first 12 hex
// digits of the file's SHA-256. Unknown fields are an error, so that a typo
// does not silently drop a weight. Every error wraps [ErrModel] and names path.
func LoadLogistic(path string) (Model, error) {
	b, err := readModel(path)
	if err != nil {
		return nil, err
	}
	return ReadLogistic(path, b)
}

// ReadLogistic is [LoadLogistic] for a model already in memory (compiled in
// with go:embed, say); name stands for the file in errors.
func ReadLogistic(name string, data []byte) (Model, error) {
	m, err := parseLogistic(data)
	if err != nil {
		return nil, modelErr(name, "%v", err)
	}
	return m, nil
}

// parseLogistic parses and checks the JSON form of a logistic regression.
func parseLogistic(b []byte) (*Logistic, error) {
	var f logisticFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the model object")
	}
	switch {
	case f.Name == "":
		return nil, errors.New(`"name" is missing or empty`)
	case f.Intercept == nil:
		return nil, errors.New(`"intercept" is missing`)
	case math.IsNaN(*f.Intercept) || math.IsInf(*f.Intercept, 0):
		return nil, fmt.Errorf(`"intercept" %v is not a finite number`, *f.Intercept)
	}
	if msg := checkFeatures(f.Features); msg != "" {
		return nil, fmt.Errorf(`"features": %s`, msg)
	}
	if len(f.Weights) != len(f.Features) {
		return nil, fmt.Errorf("%d weights for %d features: want one weight per feature", len(f.Weights), len(f.Features))
	}
	for i, w := range f.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weight of %q is %v, not a finite number", f.Features[i], w)
		}
	}
	if f.Version == "" {
		f.Version = defaultVersion(b)
	}
	return &Logistic{
		name:      f.Name,
		version:   f.Version,
		features:  f.Features,
		intercept: *f.Intercept,
		weights:   f.Weights,
	}, nil
}

// Name returns the model's name.
func (m *Logistic) Name() string { return m.name }

// Version returns the model's version.
func (m *Logistic) Version() string { return m.version }

// Features returns the model's feature names, in the order of its weights.
func (m *Logistic) Features() []string { return slices.Clone(m.features) }

// Predict returns sigmoid(intercept + weights·features). NaN features count as
// 0. It fails if len(features) is not the number of features.
func (m *Logistic) Predict(features []float64) (float64, error) {
	if len(features) != len(m.weights) {
		return 0, fmt.Errorf("logistic %q: %d feature values, want %d", m.name, len(features), len(m.weights))
	}
	z := m.intercept
	for i, x := range features {
		if !math.IsNaN(x) {
			z += m.weights[i] * x
		}
	}
	return 1 / (1 + math.Exp(-z)), nil
}
