package soak

import "github.com/sluicehq/sluice/topology"

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

// options returns the topology options of mode m.
func (m Mode) options() []topology.Option {
	if m != ExactlyOnce {
		return nil
	}
	return []topology.Option{topology.ExactlyOnce(topology.DefaultCommitInterval)}
}
