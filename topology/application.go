package topology

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
)

// ErrApplication: a [Graph]'s Application is not a valid application id.
var ErrApplication = errors.New("topology: invalid application id")

// validApplication is what an application id may hold: characters legal in
// a Kafka topic name, without the '.' that ends it in the names it prefixes.
var validApplication = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// Namespaced returns name in the namespace of the application id app:
// app+"."+name, or name itself when app is "" (the default namespace, the
// names sluice used before application ids).
func Namespaced(app, name string) string {
	if app == "" {
		return name
	}
	return app + "." + name
}

// AgentNames are the names a running agent uses on the cluster, all derived
// from its name and the graph's Application (see [Graph.Names]).
type AgentNames struct {
	// Group is the agent's consumer group id (and goka group).
	Group string
	// Table is its state's compacted changelog topic: Group+"-table".
	Table string
	// DeadLetters is its dead-letter topic: Group+"-dlq".
	DeadLetters string
	// Loop is the topic its asynchronous results and timer fires pass
	// through: Group+"-loop".
	Loop string
	// Timers is its timers topic: Group+"-timers".
	Timers string
	// TransactionalIDPrefix starts the transactional.id of its producer in
	// exactly-once mode: "sluice-"+Group+"-", followed by the instance.
	TransactionalIDPrefix string
	// StateDir is where its local tables live, under [DataDir]: state/Group.
	StateDir string
}

// Names returns the names the agent named agent uses on the cluster when g
// runs: with an Application, every one of them starts with Application+".";
// without one, they are the agent's name and the names derived from it
// ([TableName], [DeadLetterName], [LoopName], [TimersName]).
func (g *Graph) Names(agent string) AgentNames {
	group := Namespaced(g.Application, agent)
	return AgentNames{
		Group:                 group,
		Table:                 TableName(group),
		DeadLetters:           DeadLetterName(group),
		Loop:                  LoopName(group),
		Timers:                TimersName(group),
		TransactionalIDPrefix: "sluice-" + group + "-",
		StateDir:              "state/" + group,
	}
}

// In returns t as the table of an agent in the graph whose Application is
// app: its Name in app's namespace. Use it for a [View] or an
// [ExternalTable] of an agent in a graph with an Application; the agents of
// that graph itself use t as [Agent.Table] returns it.
func (t Table[T]) In(app string) Table[T] {
	t.Name = Namespaced(app, t.Name)
	return t
}

// checkApplication returns an error unless app is "" or a valid application id.
func checkApplication(app string) error {
	if app == "" || validApplication.MatchString(app) {
		return nil
	}
	return fmt.Errorf("application %q: want 1 to 200 of A-Z, a-z, 0-9, '_' and '-': %w", app, ErrApplication)
}

// namespace moves the agents' internal names (groups, tables, dead-letter,
// loop and timers topics) into the application's namespace, and points
// lookups, joins and inputs of the graph's own tables at the moved names.
// It does nothing for the default namespace.
func namespace(app string, agents []agentSpec) {
	if app == "" {
		return
	}
	moved := map[string]string{}
	move := func(s *topicSpec) {
		if s != nil && s.name != "" {
			n := Namespaced(app, s.name)
			moved[s.name], s.name = n, n
		}
	}
	for i := range agents {
		a := &agents[i]
		a.group = Namespaced(app, a.name)
		move(a.state)
		move(&a.dlq)
		move(a.loop)
		move(a.timers)
	}
	rename := func(specs []topicSpec) {
		for i, s := range specs {
			if n, ok := moved[s.name]; ok {
				specs[i].name = n
			}
		}
	}
	for i := range agents {
		a := &agents[i]
		a.moved = moved
		rename(a.inputs)
		rename(a.lookups)
		rename(a.joins)
		rename(a.outputs)
	}
}

// logNames logs, in one line, the application id and the names on the
// cluster the selected agents use, so that an operator sees which groups and
// internal topics a run reads and writes.
func logNames(log *slog.Logger, app string, agents []agentSpec) {
	var groups, topics []string
	for _, a := range agents {
		groups = append(groups, a.group)
		for _, s := range []*topicSpec{a.state, &a.dlq, a.loop, a.timers} {
			if s != nil {
				topics = append(topics, s.name)
			}
		}
	}
	ns := app
	if ns == "" {
		ns = "(none: names are the agents')"
	}
	log.Info("names in use", "application", ns, "groups", groups, "internal_topics", topics)
}
