package inference

import (
	"encoding/json"
	"time"
)

// Request asks for a prediction for one entity: the value of the request
// stream, keyed by Entity.
type Request struct {
	// ID identifies the request; the prediction carries it back.
	ID string `json:"request_id"`
	// Entity is the entity to score (a user, a card): the key of its feature
	// vector. The record key must be the entity; Entity may be left empty and
	// then defaults to the key.
	Entity string `json:"entity"`
	// Payload is passed through untouched, for the caller's use.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Prediction is a model's score for one [Request], with the feature values it
// was computed from: the value of the prediction stream, keyed by entity.
type Prediction struct {
	// RequestID is the request's ID.
	RequestID string `json:"request_id"`
	// Entity is the entity scored.
	Entity string `json:"entity"`
	// Score is the model's output.
	Score float64 `json:"score"`
	// Model and ModelVersion name the model that scored.
	Model        string `json:"model"`
	ModelVersion string `json:"model_version"`
	// Features are the feature values the model was given, by name; missing
	// features are not in it but in Missing.
	Features map[string]float64 `json:"features"`
	// Missing names the model's features the entity's vector lacked, in the
	// model's order; they were given to the model as NaN.
	Missing []string `json:"missing,omitempty"`
	// Flagged is true if Missing is not empty: the score was computed without
	// some of its inputs.
	Flagged bool `json:"flagged,omitempty"`
	// RequestedAt is the request record's timestamp.
	RequestedAt time.Time `json:"requested_at"`
	// PredictedAt is when the agent scored the request.
	PredictedAt time.Time `json:"predicted_at"`
}
