package topology

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/topology/internal/harness"
)

// init hands package topologytest the runtime's group builder; see package harness
// for why it is not exported.
func init() { harness.Groups = harnessGroups }

// harnessGroups builds the groups of every agent of g exactly as Run and supervise
// do, with c's retry settings and clock. An agent with timers gets them in
// memory, with no broker behind them: the harness fires them itself.
func harnessGroups(graph any, c harness.Config) ([]harness.Agent, error) {
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
	var agents []harness.Agent
	for _, a := range g.resolve().agents {
		rt := newAgentRuntime(a, rc)
		if c.Now != nil {
			rt.now = c.Now
		}
		ha := harness.Agent{Group: a.newGroup(rt)}
		if a.loop != nil {
			ha.Loop = a.loop.name
		}
		if a.timers != nil {
			tr := newTimerRun(rt, *a.timers, a.loop.name)
			tr.manual = true
			rt.timers = tr
			ha.Due = func(now time.Time) []harness.Record {
				var out []harness.Record
				for _, e := range tr.due(now) {
					out = append(out, harness.Record{Key: e.key, Value: []byte(e.st.Name), Headers: fireHeaders(e.st)})
				}
				return out
			}
			ha.Next = tr.next
		}
		agents = append(agents, ha)
	}
	return agents, nil
}
