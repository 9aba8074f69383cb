package inference

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

// New returns the inference agent c declares: a stateless agent that reads
// c.Requests, joins each with its entity's vector in c.Features (the agent's
// local, co-partitioned copy of the table: no network call per request), scores
// it with c.Model and emits a [Prediction] to c.Out under the entity.
//
// A request goes to the agent's dead-letter topic, and no prediction is
// emitted, if it cannot be decoded, if its Entity is not its key or the model
// fails or returns a number that is not finite ([ErrBadRequest]), or if it
// lacks features under the [DeadLetter] policy ([ErrMissingFeatures]).
//
// New fails with an error wrapping [ErrConfig] that says what to fix.
func New(c Config) (topology.Agent[struct{}], error) {
	if err := c.validate(); err != nil {
		return topology.Agent[struct{}]{}, err
	}
	s := &scorer{
		model:    c.Model,
		names:    c.Model.Features(),
		features: c.Features,
		out:      c.Out,
		missing:  c.Missing,
		now:      time.Now,
	}
	return topology.Agent[struct{}]{
		Name:    c.Name,
		Inputs:  []topology.Input[struct{}]{topology.Consume(c.Requests, s.handle)},
		Outputs: []topology.Topic{c.Out},
		Joins:   []topology.Topic{c.Features},
	}, nil
}

// scorer holds what the agent's handler needs; it is read-only after New, so
// the handlers of all partitions share it.
type scorer struct {
	model    Model
	names    []string // c.Model.Features(), fetched once
	features topology.Table[featurestore.Vector]
	out      topology.Stream[Prediction]
	missing  MissingPolicy
	now      func() time.Time
}

// handle scores one request.
func (s *scorer) handle(c *topology.Context[struct{}], entity string, r Request) error {
	if r.Entity != "" && r.Entity != entity {
		return fmt.Errorf("request %q for entity %q under key %q: %w", r.ID, r.Entity, entity, ErrBadRequest)
	}
	v, _, err := topology.Join(c, s.features)
	if err != nil {
		return err
	}
	x := make([]float64, len(s.names))
	used := make(map[string]float64, len(s.names))
	var missing []string
	for i, name := range s.names {
		f, ok := v.Features[name]
		if !ok {
			x[i] = math.NaN()
			missing = append(missing, name)
			continue
		}
		x[i] = f.Value
		used[name] = f.Value
	}
	if len(missing) > 0 && s.missing == DeadLetter {
		return fmt.Errorf("request %q for entity %q lacks %s: %w", r.ID, entity, strings.Join(missing, ", "), ErrMissingFeatures)
	}
	score, err := s.model.Predict(x)
	if err != nil {
		return fmt.Errorf("request %q for entity %q: %w: %w", r.ID, entity, err, ErrBadRequest)
	}
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return fmt.Errorf("request %q for entity %q: model %q scored %v: %w", r.ID, entity, s.model.Name(), score, ErrBadRequest)
	}
	return topology.Emit(c, s.out, entity, Prediction{
		RequestID:    r.ID,
		Entity:       entity,
		Score:        score,
		Model:        s.model.Name(),
		ModelVersion: s.model.Version(),
		Features:     used,
		Missing:      missing,
		Flagged:      len(missing) > 0,
		RequestedAt:  c.Timestamp(),
		PredictedAt:  s.now().UTC(),
	})
}
