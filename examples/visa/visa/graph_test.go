package visa_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// TestGraphOfAnyLevels pins the routing universe: a graph of any subset of the
// levels is valid, declares every scrutiny queue, and reads from outside (as a
// source) exactly the queues that levels elsewhere may write.
func TestGraphOfAnyLevels(t *testing.T) {
	names := []string{"A", "B", "C", "D", "E"}
	for mask := 1; mask < 1<<len(names); mask++ {
		var levels []string
		for i, n := range names {
			if mask&(1<<i) != 0 {
				levels = append(levels, n)
			}
		}
		t.Run(strings.Join(levels, ""), func(t *testing.T) {
			g, err := visa.Graph(nil, levels...)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			all := len(levels) == len(names)
			for _, l := range names[1:] {
				q := visa.QueueName(l)
				runs := slices.Contains(levels, l)
				if src := has(g.Sources, q); src != (runs && !all) {
					t.Errorf("queue %s a source = %v, want %v", q, src, runs && !all)
				}
				if sink := has(g.Sinks, q); sink != !runs {
					t.Errorf("queue %s a sink = %v, want %v", q, sink, !runs)
				}
			}
			if !has(g.Sinks, visa.Final.Name) {
				t.Errorf("%s is not a sink", visa.Final.Name)
			}
		})
	}
	if _, err := visa.Graph(nil, "A", "F"); err == nil || !strings.Contains(err.Error(), `unknown level "F"`) {
		t.Errorf("Graph with level F = %v, want an unknown level error", err)
	}
	if _, err := visa.Graph(nil, "A", "a"); err == nil || !strings.Contains(err.Error(), "named twice") {
		t.Errorf("Graph with level A twice = %v, want an error", err)
	}
}

func has(topics []topology.Topic, name string) bool {
	return slices.ContainsFunc(topics, func(t topology.Topic) bool { return t.TopicName() == name })
}
