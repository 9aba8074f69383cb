package visa

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/topology"
)

// Level is one level of scrutiny: an agent with its own consumer group, input
// queue and memory.
type Level struct {
	// Name is the level's letter, "A" to "E".
	Name string
	// Checks says what the level's rules look at.
	Checks string
	// Input is the stream the level reads: [Applications] for level A, its
	// scrutiny queue for the others.
	Input string
}

// Agent returns the name of the level's agent and consumer group: "level-a".
func (l Level) Agent() string { return "level-" + strings.ToLower(l.Name) }

// Levels is the catalog of levels, and so the routing universe: every level
// declares every other level's queue as a possible output, so a route may send
// an application from any level to any other. A level not run by a graph still
// has its queue, which that graph declares as a sink: routes may use it, and
// the applications wait there until its agent runs.
//
// Level E (medical checks) is on no default route: it is the level that
// [DefaultRoutes] do not use until a route for "work" is added.
var Levels = []Level{
	{Name: "A", Checks: "passport validity and completeness", Input: "visa-applications-in"},
	{Name: "B", Checks: "funds against stay length", Input: QueueName("B")},
	{Name: "C", Checks: "invitation letter (business)", Input: QueueName("C")},
	{Name: "D", Checks: "prior refusals and final risk", Input: QueueName("D")},
	{Name: "E", Checks: "medical certificate (work)", Input: QueueName("E")},
}

// QueueName returns the scrutiny queue of the level named level:
// "scrutiny-queue-" + level.
func QueueName(level string) string { return "scrutiny-queue-" + level }

// LevelOf returns the level named name ("B" or "b").
func LevelOf(name string) (Level, bool) {
	for _, l := range Levels {
		if strings.EqualFold(l.Name, name) {
			return l, true
		}
	}
	return Level{}, false
}

// levelOfQueue returns the level that reads the scrutiny queue topic.
func levelOfQueue(topic string) (Level, bool) {
	for _, l := range Levels[1:] {
		if l.Input == topic {
			return l, true
		}
	}
	return Level{}, false
}

// queues returns the scrutiny queues of every level but A, in catalog order.
func queues() []topology.Stream[Document] {
	var out []topology.Stream[Document]
	for _, l := range Levels[1:] {
		out = append(out, Queue(l.Name))
	}
	return out
}

// Queue returns the handle of the scrutiny queue of the level named level.
func Queue(level string) topology.Stream[Document] {
	return topology.Stream[Document]{Name: QueueName(level), Codec: topology.JSON[Document]()}
}

// levelNames returns the names of every level, for messages.
func levelNames() string {
	var names []string
	for _, l := range Levels {
		names = append(names, l.Name)
	}
	return strings.Join(names, ", ")
}

// queueLevels returns the names of the levels that read a scrutiny queue.
func queueLevels() []string {
	var names []string
	for _, l := range Levels[1:] {
		names = append(names, l.Name)
	}
	return names
}

// selectLevels returns the levels named, all of them if names is empty.
func selectLevels(names []string) ([]Level, error) {
	if len(names) == 0 {
		return Levels, nil
	}
	var out []Level
	for _, n := range names {
		l, ok := LevelOf(n)
		if !ok {
			return nil, fmt.Errorf("unknown level %q: the levels are %s", n, levelNames())
		}
		for _, o := range out {
			if o.Name == l.Name {
				return nil, fmt.Errorf("level %s named twice", l.Name)
			}
		}
		out = append(out, l)
	}
	return out, nil
}
