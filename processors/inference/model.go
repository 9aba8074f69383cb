package inference

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Model scores one feature vector. Implementations must be safe for concurrent
// use: the agent scores the requests of its partitions in parallel.
type Model interface {
	// Name names the model, as predictions report it.
	Name() string
	// Version is the model's version, as predictions report it.
	Version() string
	// Features names the model's inputs in the order Predict takes them.
	Features() []string
	// Predict scores features, which has one value per name of Features, in
	// that order. A missing value is NaN.
	Predict(features []float64) (float64, error)
}

// ErrModel is wrapped by every error of [LoadLogistic] and [LoadLeaves]; the
// message names the file and what is wrong with it.
var ErrModel = errors.New("inference: bad model")

// modelErr returns an error wrapping ErrModel that names path.
func modelErr(path string, format string, args ...any) error {
	return fmt.Errorf("model %s: %s: %w", path, fmt.Sprintf(format, args...), ErrModel)
}

// readModel reads the model file at path; its error wraps ErrModel and the
// file system's error (fs.ErrNotExist, say), and names path once.
func readModel(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("model %s: %w: %w", path, err, ErrModel)
	}
	return b, nil
}

// checkFeatures reports what is wrong with a model's feature names, or "".
func checkFeatures(names []string) string {
	if len(names) == 0 {
		return "no features"
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		switch {
		case strings.TrimSpace(n) == "":
			return fmt.Sprintf("feature %d has an empty name", i)
		case seen[n]:
			return fmt.Sprintf("feature %q is named twice", n)
		}
		seen[n] = true
	}
	return ""
}

// defaultName is the model name of a file that names none: its base name
// without the extension.
func defaultName(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// defaultVersion is the version of a model file that names none: the first 12
// hex digits of the SHA-256 of its content, so that a changed file reports a
// different version.
func defaultVersion(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:6])
}
