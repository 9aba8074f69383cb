package visa

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/topology"
)

// Names are the names of one instance of the pipeline on a cluster: its topics,
// and its agents and so their consumer groups, tables and dead-letter topics.
// The zero Names are production's; a shadow run's (see [Replay]) carry Suffix,
// so that the two never share a topic or a group: the topics' and agents' names
// end in it, and the names derived from an agent's have it after the agent's
// ("level-b-v2-dlq" for level B's dead letters with suffix "-v2").
//
// Routing slips and routes name queues by their production names whatever the
// instance: a level maps a hop to its own instance's topic when it emits.
type Names struct {
	// Suffix marks every name of the instance; "" for production.
	Suffix string
}

// Applications returns the pipeline's input topic.
func (n Names) Applications() string { return Applications.Name + n.Suffix }

// Queue returns the scrutiny queue of the level named level.
func (n Names) Queue(level string) string { return QueueName(level) + n.Suffix }

// Final returns the topic of final decisions.
func (n Names) Final() string { return Final.Name + n.Suffix }

// Routes returns the routing table's topic.
func (n Names) Routes() string { return RoutesTable.Name + n.Suffix }

// Agent returns the agent (and consumer group) of the level named level.
func (n Names) Agent(level string) string {
	l, _ := LevelOf(level)
	return l.Agent() + n.Suffix
}

// DeadLetters returns the dead-letter topic of the level named level.
func (n Names) DeadLetters(level string) string { return topology.DeadLetterName(n.Agent(level)) }

// Topic returns the name in n of the topic named name in production.
func (n Names) Topic(name string) string { return name + n.Suffix }

// named returns s under its name in n.
func named[T any](n Names, s topology.Stream[T]) topology.Stream[T] {
	s.Name = n.Topic(s.Name)
	return s
}

// namedTable returns t under its name in n.
func namedTable[T any](n Names, t topology.Table[T]) topology.Table[T] {
	t.Name = n.Topic(t.Name)
	return t
}

// checkSuffix returns an error unless s can end a Kafka topic name and is not
// empty: an empty suffix would be production's names.
func checkSuffix(s string) error {
	if s == "" {
		return errors.New("empty shadow suffix: the shadow run would write production's topics")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("shadow suffix %q: Kafka topic names allow only letters, digits, '.', '_' and '-'", s)
		}
	}
	if len(s) > 100 {
		return fmt.Errorf("shadow suffix %q is too long", s)
	}
	return nil
}
