package soak

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/topology"
)

// Mode is the processing guarantee the soak runs its agents with.
type Mode int

const (
	// AtLeastOnce is sluice's default: nothing lost, order kept per key, and
	// each table's last sequence number right; after a crash outputs may repeat
	// and counts in state may be too high.
	AtLeastOnce Mode = iota
	// ExactlyOnce is topology's exactly-once mode: no duplicate in the output,
	// and state equal to what the input computes.
	ExactlyOnce
)

// String returns the mode as the report prints it: at-least-once or
// exactly-once.
func (m Mode) String() string {
	if m == ExactlyOnce {
		return "exactly-once"
	}
	return "at-least-once"
}

// ErrNoExactlyOnce is returned by [RunAgent] and [Run] for [ExactlyOnce] when
// the topology package of this build has no exactly-once mode.
var ErrNoExactlyOnce = errors.New("soak: this build of sluice has no exactly-once mode")

// exactlyOnceOption returns topology's option that turns exactly-once mode on.
// It is a function so that a build of sluice without the mode needs one line
// changed here: return nil, and [ExactlyOnceAvailable] reports false.
func exactlyOnceOption() topology.Option { return topology.ExactlyOnce(topology.DefaultCommitInterval) }

// ExactlyOnceAvailable reports whether this build of sluice has an
// exactly-once mode for [ExactlyOnce] to run.
func ExactlyOnceAvailable() bool { return exactlyOnceOption() != nil }

// options returns the topology options of mode m.
func (m Mode) options() ([]topology.Option, error) {
	if m != ExactlyOnce {
		return nil, nil
	}
	o := exactlyOnceOption()
	if o == nil {
		return nil, fmt.Errorf("mode %s: %w", m, ErrNoExactlyOnce)
	}
	return []topology.Option{o}, nil
}
