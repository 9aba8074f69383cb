package topology

import (
	"errors"
	"fmt"
)

// Validate checks the graph before anything starts. It returns nil or every problem
// found, joined; each wraps one of the declaration sentinels (ErrNoInput,
// ErrUnknownTopic, ErrNoReader, ErrCodecMismatch, ErrDuplicateAgent, ErrCopartition,
// ...) and names the agent and topic, so callers test with errors.Is.
func (g *Graph) Validate() error {
	r := g.resolve()
	errs := r.errs
	if err := checkApplication(g.Application); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, a := range r.agents {
		who := a.String()
		switch {
		case a.name == "":
			errs = append(errs, fmt.Errorf("agent: %w", ErrNoName))
		case seen[a.name]:
			errs = append(errs, fmt.Errorf("%s: %w", who, ErrDuplicateAgent))
		}
		seen[a.name] = true
		if len(a.inputs) == 0 {
			errs = append(errs, fmt.Errorf("%s: %w", who, ErrNoInput))
		}
		for _, s := range a.inputs {
			if t := r.topics[s.name]; t != nil && s.name != "" && !t.source && len(t.writers) == 0 {
				errs = append(errs, fmt.Errorf("%s: input %q is written by no agent and not a source: %w", who, s.name, ErrUnknownTopic))
			}
		}
		for _, s := range append(append([]topicSpec{}, a.lookups...), a.joins...) {
			t := r.topics[s.name]
			if t == nil || s.name == "" {
				continue
			}
			if s.kind != KindTable {
				errs = append(errs, fmt.Errorf("%s: lookup or join of stream %q, want a table: %w", who, s.name, ErrTopicConflict))
			} else if t.owner == "" && !t.source {
				errs = append(errs, fmt.Errorf("%s: table %q is owned by no agent and not a source: %w", who, s.name, ErrUnknownTopic))
			}
		}
		for _, j := range a.joins {
			for _, l := range a.lookups {
				if j.name == l.name && j.name != "" {
					// goka would open the table's partition stores twice, and the second open
					// fails on the store's lock: the agent could never start.
					errs = append(errs, fmt.Errorf("%s: table %q is both joined and looked up (a join already reads it by the record's key; keep one): %w",
						who, j.name, ErrTopicConflict))
				}
			}
		}
		for _, s := range a.outputs {
			t := r.topics[s.name]
			if t == nil || s.name == "" {
				continue
			}
			if s.kind != KindStream {
				errs = append(errs, fmt.Errorf("%s: output %q is a table; agents write tables through their state: %w", who, s.name, ErrTopicConflict))
			} else if !t.sink && len(readersOf(r, s.name)) == 0 {
				errs = append(errs, fmt.Errorf("%s: output %q is read by no agent and not a sink: %w", who, s.name, ErrNoReader))
			}
		}
		errs = append(errs, copartitioned(r, a)...)
	}
	return errors.Join(errs...)
}

// readersOf returns the agents that read topic as an input.
func readersOf(r *resolved, topic string) []string {
	var out []string
	for _, a := range r.agents {
		for _, s := range a.inputs {
			if s.name == topic {
				out = append(out, a.name)
			}
		}
	}
	return out
}

// copartitioned checks that an agent's inputs, joins and table share a partition
// count: goka assigns them to instances partition by partition.
func copartitioned(r *resolved, a agentSpec) []error {
	group := append(append([]topicSpec{}, a.inputs...), a.joins...)
	if a.state != nil {
		group = append(group, *a.state)
	}
	if a.loop != nil {
		group = append(group, *a.loop)
	}
	if a.timers != nil {
		group = append(group, *a.timers)
	}
	var first *topicInfo
	var errs []error
	for _, s := range group {
		t := r.topics[s.name]
		if t == nil || s.name == "" {
			continue
		}
		if first == nil {
			first = t
			continue
		}
		if t.partitions != first.partitions {
			errs = append(errs, fmt.Errorf("agent %q: %q has %d partitions, %q has %d: %w",
				a.name, t.name, t.partitions, first.name, first.partitions, ErrCopartition))
		}
	}
	return errs
}
