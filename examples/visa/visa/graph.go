package visa

import (
	"fmt"

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
	return graph(d, Names{}, Options{}, levels)
}

// GraphConcurrent is [Graph] with up to concurrency decider calls in flight at
// once per partition of each level, for a slow [Decider] such as the
// [LLMDecider]: a level handles the records of a partition one at a time, so a
// model answering in 200 ms would hold each partition to 5 applications a
// second.
//
// With concurrency 1 it is [Graph]. Above 1 each level reads its input with
// topology.ConsumeAsync: the decider's calls overlap, those of one application
// (one key) in order; each finding then passes through the level's loop topic
// (level-a-loop, ...) to the step that updates the level's memory and routes the
// document, as [Graph]'s levels do in one step. An input offset is committed only
// once its finding is in the loop topic and every earlier record's too.
//
// Lowering a level's concurrency to 1 while its loop topic holds findings not yet
// applied leaves them there until the level runs with concurrency above 1
// again: stop a level cleanly, with its lag at 0 (see [Lag]), before lowering
// it. GraphConcurrent fails for a concurrency below 1 and as Graph does.
func GraphConcurrent(d Decider, concurrency int, levels ...string) (*topology.Graph, error) {
	if concurrency < 1 {
		return nil, fmt.Errorf("concurrency %d: want 1 or more", concurrency)
	}
	return graph(d, Names{}, Options{Concurrency: concurrency}, levels)
}

// GraphWith is [Graph] with the levels named deciding with d as o says: with
// o.Concurrency decider calls in flight per partition (see
// [GraphConcurrent]), and, when o asks for SLAs or review, the desk agent
// ([DeskAgent]), which then writes every final decision: the levels tell it
// their progress on [Reports] instead. With o.Retry each level retries
// a decider that asks for it ([RetryLater]) on a timer. It fails for an SLA
// of a level not in the catalog and as Graph does.
func GraphWith(d Decider, o Options, levels ...string) (*topology.Graph, error) {
	return graph(d, Names{}, o, levels)
}

// graph is [GraphConcurrent] with the topic and agent names of n: production's,
// or a shadow run's (see [ShadowGraph]).
func graph(d Decider, n Names, o Options, levels []string) (*topology.Graph, error) {
	if d == nil {
		d = Rules{}
	}
	concurrency := max(o.Concurrency, 1)
	ls, err := selectLevels(levels)
	if err != nil {
		return nil, err
	}
	for l, sla := range o.SLA {
		if _, ok := LevelOf(l); !ok || sla < 0 {
			return nil, fmt.Errorf("SLA %s=%v: want a level of %s and a duration of 0 or more", l, sla, levelNames())
		}
	}
	g := &topology.Graph{Name: "visa"}
	running := map[string]bool{}
	for _, l := range ls {
		lv := &level{Level: l, decider: d, names: n, concurrency: concurrency, desk: o.desk(), retry: o.Retry}
		g.Agents = append(g.Agents, lv.agent())
		running[l.Name] = true
	}
	if running["A"] || o.desk() {
		g.Sources = append(g.Sources, named(n, Applications))
	}
	if running["A"] {
		g.Sources = append(g.Sources, namedTable(n, RoutesTable))
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
	if o.desk() {
		dk := &desk{o: o, names: n}
		g.Agents = append(g.Agents, dk.agent())
		g.Sources = append(g.Sources, named(n, Reviews))
		if outside {
			g.Sources = append(g.Sources, named(n, Reports))
		}
		g.Sinks = append(g.Sinks, named(n, DeskEvents))
	}
	return g, nil
}
