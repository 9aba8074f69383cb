package main

import (
	_ "embed"
	"github.com/sluicehq/sluice/processors/inference"
)

// defaultModel is model/fraud.json: a logistic regression over the four
// features whose weights were set by hand for this demo, not trained (see
// README.md). It is compiled in, so that the binary runs from any directory.
//
//go:embed model/fraud.json
var defaultModel []byte

// loadModel loads the logistic regression at path, or the compiled-in
// model/fraud.json if path is empty. The error of a bad file wraps
// inference.ErrModel and says what is wrong.
func loadModel(path string) (inference.Model, error) {
	if path != "" {
		return inference.LoadLogistic(path)
	}
	return inference.ReadLogistic("compiled-in model/fraud.json", defaultModel)
}
