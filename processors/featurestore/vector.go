package featurestore

import (
	"time"
)

// Update sets one feature of one entity: the message the store consumes.
type Update struct {
	// Entity is the entity the feature describes (a user, a card). The record key
	// must be the entity, so that its updates share a partition; Entity may be
	// left empty and then defaults to the key.
	Entity string `json:"entity,omitempty"`
	// Name names the feature, e.g. "txn_count_1h".
	Name string `json:"name"`
	// Value is the feature's value. It must be a finite number.
	Value float64 `json:"value"`
	// AsOf is the time the value was computed as of (for a windowed aggregate,
	// the stream time of its result). The zero time means the record's
	// timestamp.
	AsOf time.Time `json:"as_of"`
}

// Feature is a feature's latest value and the time it was computed as of.
type Feature struct {
	Value float64   `json:"value"`
	AsOf  time.Time `json:"as_of"`
}

// Vector is the latest value of every feature of one entity: the table value
// of the store, and what a lookup returns.
type Vector struct {
	Features map[string]Feature `json:"features"`
}

// Apply merges u into v and reports whether v changed. A feature takes the
// update's value unless the value it has is as of a later time: updates that
// arrive out of order never overwrite newer values, and replaying updates
// leaves the vector as it was. Between updates as of the same time, the later
// one applied wins.
func (v *Vector) Apply(u Update) bool {
	if f, ok := v.Features[u.Name]; ok {
		if f.AsOf.After(u.AsOf) {
			return false // stale: an update as of a later time is in
		}
		if f.AsOf.Equal(u.AsOf) && f.Value == u.Value {
			return false // a replay
		}
	}
	if v.Features == nil {
		v.Features = map[string]Feature{}
	}
	v.Features[u.Name] = Feature{Value: u.Value, AsOf: u.AsOf}
	return true
}
