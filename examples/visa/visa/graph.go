package visa

import (
	"time"

	"github.com/sluicehq/sluice/topology"
)

// Graph returns the visa pipeline with the agents of the levels named (all of
// [Levels] if none is), each deciding with d (nil means [Rules]).
//
// Every scrutiny queue of the catalog is declared, whether its level runs here
// or not: the queue of a level missing from the graph is a sink, and the queue of
// a level in it is also a source when some level runs elsewhere, since any level
// may route to any other. So graphs of different levels run side by side on one
// cluster, and a level added later finds its queue already in use. Graph fails
// for a level name not in the catalog.
func Graph(d Decider, levels ...string) (*topology.Graph, error) {
	return graph(d, Names{}, levels)
}

// graph is [Graph] with the topic and agent names of n: production's, or a
// shadow run's (see [ShadowGraph]).
func graph(d Decider, n Names, levels []string) (*topology.Graph, error) {
	if d == nil {
		d = Rules{}
	}
	ls, err := selectLevels(levels)
	if err != nil {
		return nil, err
	}
	g := &topology.Graph{Name: "visa"}
	running := map[string]bool{}
	for _, l := range ls {
		lv := &level{Level: l, decider: d, now: time.Now, names: n}
		g.Agents = append(g.Agents, lv.agent())
		running[l.Name] = true
	}
	if running["A"] {
		g.Sources = append(g.Sources, named(n, Applications), namedTable(n, RoutesTable))
	}
	outside := len(ls) < len(Levels) // some level may write every queue from elsewhere
	for _, l := range Levels[1:] {
		switch {
		case !running[l.Name]:
			g.Sinks = append(g.Sinks, named(n, Queue(l.Name)))
		case outside:
			g.Sources = append(g.Sources, named(n, Queue(l.Name)))
		}
	}
	g.Sinks = append(g.Sinks, named(n, Final))
	return g, nil
}
