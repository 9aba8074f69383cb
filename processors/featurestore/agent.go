package featurestore

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// Config declares a feature store: an agent that keeps the latest [Vector] of
// every entity in its table, a compacted topic read by [Handler] through a
// [topology.View].
type Config struct {
	// Name is the agent's name; its table is [topology.TableName](Name).
	Name string
	// Updates is a stream of feature updates keyed by entity. It may be left
	// empty if Inputs are given.
	Updates topology.Stream[Update]
	// Inputs are further streams turned into updates, built with [From]: the
	// results of window aggregations, say, without an agent in between.
	Inputs []topology.Input[Vector]
}

// ErrConfig is returned by [New], wrapped with what to fix, for an invalid
// [Config].
var ErrConfig = errors.New("featurestore: invalid config")

// ErrBadUpdate is the reason, wrapped with the details, of an update the store
// rejects: one without a name, with a value that is not a finite number, or
// whose Entity is not its record key. It wraps [topology.ErrPermanent]: the
// record goes to the agent's dead-letter topic at once.
var ErrBadUpdate = fmt.Errorf("featurestore: bad update: %w", topology.ErrPermanent)

// New returns the feature store agent c declares. Its table holds a [Vector]
// per entity, JSON-encoded: read it with [topology.NewView] on the agent's
// Table. New fails with an error wrapping [ErrConfig].
func New(c Config) (topology.Agent[Vector], error) {
	switch {
	case c.Name == "":
		return topology.Agent[Vector]{}, fmt.Errorf("featurestore: Name is empty: %w", ErrConfig)
	case c.Updates.Name == "" && len(c.Inputs) == 0:
		return topology.Agent[Vector]{}, fmt.Errorf("featurestore %q: no Updates stream and no Inputs: %w", c.Name, ErrConfig)
	}
	var inputs []topology.Input[Vector]
	if c.Updates.Name != "" {
		inputs = append(inputs, topology.Consume(c.Updates, func(ctx *topology.Context[Vector], entity string, u Update) error {
			return apply(ctx, entity, []Update{u})
		}))
	}
	return topology.Agent[Vector]{
		Name:   c.Name,
		State:  topology.JSON[Vector](),
		Inputs: append(inputs, c.Inputs...),
	}, nil
}

// From returns an input of a feature store that reads s, keyed by entity, and
// turns each record into updates with fn. ts is the record's timestamp, the
// AsOf of updates that leave it zero.
func From[In any](s topology.Stream[In], fn func(entity string, in In, ts time.Time) []Update) topology.Input[Vector] {
	return topology.Consume(s, func(c *topology.Context[Vector], entity string, in In) error {
		return apply(c, entity, fn(entity, in, c.Timestamp()))
	})
}

// apply merges updates into the entity's vector, writing it only if it changed.
func apply(c *topology.Context[Vector], entity string, updates []Update) error {
	v, _, err := c.State()
	if err != nil {
		return err
	}
	changed := false
	for _, u := range updates {
		switch {
		case u.Entity != "" && u.Entity != entity:
			return fmt.Errorf("update of %q for entity %q under key %q: %w", u.Name, u.Entity, entity, ErrBadUpdate)
		case u.Name == "":
			return fmt.Errorf("update of entity %q has no name: %w", entity, ErrBadUpdate)
		case math.IsNaN(u.Value) || math.IsInf(u.Value, 0):
			return fmt.Errorf("update of %q for %q: value %v: %w", u.Name, entity, u.Value, ErrBadUpdate)
		}
		if u.AsOf.IsZero() {
			u.AsOf = c.Timestamp()
		}
		u.AsOf = u.AsOf.UTC().Round(0) // as the JSON table stores it
		if v.Apply(u) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return c.SetState(v)
}
