package topology

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/topology/internal/harness"
)

// init hands package topologytest the runtime's group builder; see package harness
// for why it is not exported.
func init() { harness.Groups = harnessGroups }

// harnessGroups builds the groups of every agent of g exactly as Run and supervise
// do, with c's retry settings.
func harnessGroups(graph any, c harness.Config) ([]gokax.Group, error) {
	g, ok := graph.(*Graph)
	if !ok || g == nil {
		return nil, fmt.Errorf("topology: harness: graph is %T, want a non-nil *topology.Graph", graph)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	rc := newRunConfig([]Option{WithLogger(c.Logger)})
	rc.retries = max(c.Retries, 0)
	rc.retryBackoff = max(c.Backoff, 0) // not the RetryBackoff option: tests may not wait at all
	var groups []gokax.Group
	for _, a := range g.resolve().agents {
		groups = append(groups, a.newGroup(newAgentRuntime(a, rc)))
	}
	return groups, nil
}
