package inference

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

// MissingPolicy says what the agent does with a request whose entity lacks
// some of the model's features (or has no feature vector at all).
type MissingPolicy int

const (
	// Flag scores the request with the missing features as NaN (see each
	// model's Predict for what NaN means to it) and emits a prediction with
	// Flagged set and the names in Missing. The default.
	Flag MissingPolicy = iota
	// DeadLetter sends the request to the agent's dead-letter topic, with an
	// error wrapping [ErrMissingFeatures] that names the features as reason,
	// and emits no prediction.
	DeadLetter
)

// String returns "flag" or "dead-letter".
func (p MissingPolicy) String() string {
	switch p {
	case Flag:
		return "flag"
	case DeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("MissingPolicy(%d)", int(p))
}

// Config declares an inference agent.
type Config struct {
	// Name is the agent's name (its consumer group and dead-letter prefix).
	Name string
	// Requests is the stream of requests, keyed by entity.
	Requests topology.Stream[Request]
	// Features is the feature store's table (the Table of the agent
	// featurestore.New returns). It must have as many partitions as Requests:
	// the agent joins it by the request's key.
	Features topology.Table[featurestore.Vector]
	// Out is the stream predictions go to, keyed by entity.
	Out topology.Stream[Prediction]
	// Model scores the requests.
	Model Model
	// Missing is what to do with a request that lacks features; the zero value
	// is [Flag].
	Missing MissingPolicy
}

// ErrConfig is returned by [New], wrapped with what to fix, for an invalid
// [Config].
var ErrConfig = errors.New("inference: invalid config")

// ErrMissingFeatures is the dead-letter reason, wrapped with the entity and
// the names, of a request that lacks features under the [DeadLetter] policy.
// It wraps [topology.ErrPermanent]: the request is not retried.
var ErrMissingFeatures = fmt.Errorf("inference: missing features: %w", topology.ErrPermanent)

// ErrBadRequest is the dead-letter reason, wrapped with the details, of a
// request whose Entity is not its record key, or that the model could not
// score. It wraps [topology.ErrPermanent].
var ErrBadRequest = fmt.Errorf("inference: bad request: %w", topology.ErrPermanent)

// validate checks c, naming the field to fix.
func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("inference %q: %s: %w", c.Name, fmt.Sprintf(format, args...), ErrConfig)
	}
	switch {
	case c.Name == "":
		return fmt.Errorf("inference: Name is empty: %w", ErrConfig)
	case c.Requests.Name == "":
		return bad("Requests has no topic name")
	case c.Requests.Codec == nil:
		return bad("Requests %q has no codec (use topology.JSON[inference.Request]())", c.Requests.Name)
	case c.Features.Name == "":
		return bad("Features has no table name (use the feature store agent's Table())")
	case c.Features.Codec == nil:
		return bad("Features %q has no codec (use the feature store agent's Table())", c.Features.Name)
	case c.Out.Name == "":
		return bad("Out has no topic name")
	case c.Out.Codec == nil:
		return bad("Out %q has no codec (use topology.JSON[inference.Prediction]())", c.Out.Name)
	case c.Model == nil:
		return bad("Model is nil (load one with LoadLogistic or LoadLeaves)")
	case c.Missing != Flag && c.Missing != DeadLetter:
		return bad("Missing is %v: want Flag or DeadLetter", c.Missing)
	}
	if msg := checkFeatures(c.Model.Features()); msg != "" {
		return bad("model %q: %s", c.Model.Name(), msg)
	}
	return nil
}
