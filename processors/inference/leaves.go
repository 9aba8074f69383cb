package inference

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/dmitryikh/leaves"
)

// Formats of [LeavesOptions].
const (
	// LightGBM is a LightGBM model in its text format (model.save_model).
	LightGBM = "lightgbm"
	// XGBoost is an XGBoost model in its binary format (bst.save_model to a
	// .model/.bin file; not JSON).
	XGBoost = "xgboost"
)

// LeavesOptions says how [LoadLeaves] reads a tree ensemble.
type LeavesOptions struct {
	// Format is [LightGBM] or [XGBoost].
	Format string
	// Name names the model; empty means the file's base name without its
	// extension.
	Name string
	// Version is the model's version; empty means the first 12 hex digits of
	// the file's SHA-256.
	Version string
	// Features names the model's input columns in training order; there must
	// be at least as many as the model uses. Empty means the names a LightGBM
	// file gives in its feature_names line; an XGBoost binary file names none,
	// so for XGBoost Features is required.
	Features []string
	// Transform applies the model's objective transformation (the sigmoid of a
	// binary classifier, say), so the score is a probability; false scores the
	// raw margin.
	Transform bool
}

// Leaves is a LightGBM or XGBoost tree ensemble evaluated by
// github.com/dmitryikh/leaves. A missing (NaN) feature takes the branch the
// model learned for missing values.
type Leaves struct {
	name, version string
	features      []string
	ensemble      *leaves.Ensemble
}

// LoadLeaves reads a single-output tree ensemble from the file at path in
// o.Format. Multiclass models are refused: a prediction carries one score.
// Every error wraps [ErrModel] and names path.
func LoadLeaves(path string, o LeavesOptions) (Model, error) {
	b, err := readModel(path)
	if err != nil {
		return nil, err
	}
	if o.Format != LightGBM && o.Format != XGBoost {
		return nil, modelErr(path, "LeavesOptions.Format %q: want %q or %q", o.Format, LightGBM, XGBoost)
	}
	e, err := readEnsemble(b, o.Format, o.Transform)
	if err != nil {
		return nil, modelErr(path, "not a %s model: %v", o.Format, err)
	}
	features := o.Features
	if len(features) == 0 && o.Format == LightGBM {
		features = lightGBMFeatureNames(b)
	}
	if len(features) == 0 {
		return nil, modelErr(path, "LeavesOptions.Features is empty and the %s file names no features: list them in training order", o.Format)
	}
	if msg := checkFeatures(features); msg != "" {
		return nil, modelErr(path, "LeavesOptions.Features: %s", msg)
	}
	switch {
	case e.NOutputGroups() != 1:
		return nil, modelErr(path, "%d outputs (multiclass): want a model with one score", e.NOutputGroups())
	case e.NFeatures() > len(features):
		return nil, modelErr(path, "model uses %d features, LeavesOptions.Features names %d", e.NFeatures(), len(features))
	}
	m := &Leaves{name: o.Name, version: o.Version, features: slices.Clone(features), ensemble: e}
	if m.name == "" {
		m.name = defaultName(path)
	}
	if m.version == "" {
		m.version = defaultVersion(b)
	}
	return m, nil
}

// readEnsemble parses a model file. leaves indexes slices with numbers read
// from the file, so a corrupt file can make it panic: that is a bad model too.
func readEnsemble(b []byte, format string, transform bool) (e *leaves.Ensemble, err error) {
	defer func() {
		if v := recover(); v != nil {
			e, err = nil, fmt.Errorf("corrupt file (the reader panicked: %v)", v)
		}
	}()
	r := bufio.NewReader(bytes.NewReader(b))
	if format == LightGBM {
		return leaves.LGEnsembleFromReader(r, transform)
	}
	return leaves.XGEnsembleFromReader(r, transform)
}

// lightGBMFeatureNames returns the names of the feature_names line of a
// LightGBM text model's header, or nil.
func lightGBMFeatureNames(b []byte) []string {
	for line := range bytes.Lines(b) {
		line = bytes.TrimSpace(line)
		if bytes.HasPrefix(line, []byte("Tree=")) {
			break // the header is over
		}
		if names, ok := bytes.CutPrefix(line, []byte("feature_names=")); ok {
			return strings.Fields(string(names))
		}
	}
	return nil
}

// Name returns the model's name.
func (m *Leaves) Name() string { return m.name }

// Version returns the model's version.
func (m *Leaves) Version() string { return m.version }

// Features returns the model's feature names in column order.
func (m *Leaves) Features() []string { return slices.Clone(m.features) }

// Predict evaluates every tree of the ensemble on features. It fails if
// len(features) is not the number of features.
func (m *Leaves) Predict(features []float64) (float64, error) {
	if len(features) != len(m.features) {
		return 0, fmt.Errorf("model %q: %d feature values, want %d", m.name, len(features), len(m.features))
	}
	var out [1]float64
	if err := m.ensemble.Predict(features, 0 /* all trees */, out[:]); err != nil {
		return 0, fmt.Errorf("model %q: %w", m.name, err)
	}
	return out[0], nil
}
