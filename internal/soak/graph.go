package soak

import (
	"fmt"

	"github.com/sluicehq/sluice/topology"
)

// Event is the record the soak sends through the chain: sequence number Seq of
// key Key. The record's key is Key too.
type Event struct {
	Key string `json:"key"`
	Seq int64  `json:"seq"`
	// By names the agent instances that forwarded the event, for diagnosis
	// ("first-1,second-3"); the verifier ignores it.
	By string `json:"by,omitempty"`
}

// Tally is what an agent keeps per key: the sequence number of the last record
// it handled, how many records it handled and the sum of their sequence
// numbers. Last is idempotent under replay (replaying a suffix of a key's
// records ends at the same last record); Count and Sum count a replayed record
// again.
type Tally struct {
	Last  int64 `json:"last"`
	Count int64 `json:"count"`
	Sum   int64 `json:"sum"`
}

// Names of the soak's agents, in chain order.
const (
	FirstAgent  = "first"
	SecondAgent = "second"
)

// Partitions is the number of partitions of every topic of the soak: more than
// two, so that instances of an agent split them unevenly when a third joins.
const Partitions = 4

var (
	// Input is what the generator writes and the first agent reads.
	Input = topology.Stream[Event]{Name: "soak-input", Codec: topology.JSON[Event]()}
	// Middle connects the first agent to the second.
	Middle = topology.Stream[Event]{Name: "soak-middle", Codec: topology.JSON[Event]()}
	// Output is what the second agent writes and the verifier reads.
	Output = topology.Stream[Event]{Name: "soak-output", Codec: topology.JSON[Event]()}
)

// Agents returns the names of the soak's agents, in chain order.
func Agents() []string { return []string{FirstAgent, SecondAgent} }

// streams returns [Input], [Middle] and [Output] in namespace ns: the
// prefix of every topic and agent name of a run (its consumer groups,
// tables and transactional ids too), so that runs can share a cluster.
func streams(ns string) (in, mid, out topology.Stream[Event]) {
	in, mid, out = Input, Middle, Output
	in.Name, mid.Name, out.Name = ns+in.Name, ns+mid.Name, ns+out.Name
	return in, mid, out
}

// Table returns the table of the soak agent name.
func Table(name string) topology.Table[Tally] {
	return topology.ExternalTable(name, topology.JSON[Tally]())
}

// Graph returns the soak topology: first reads [Input] and writes [Middle],
// second reads Middle and writes [Output]; each keeps a [Tally] per key.
func Graph() *topology.Graph { return graph("", "") }

// graph returns the soak topology in namespace ns (see streams), whose
// agents add instance to the By of each event they forward.
func graph(ns, instance string) *topology.Graph {
	in, mid, out := streams(ns)
	return &topology.Graph{
		Name:       "soak",
		Sources:    []topology.Topic{in},
		Sinks:      []topology.Topic{out},
		Partitions: Partitions,
		Agents: []topology.AgentDecl{
			tallyAgent(ns+FirstAgent, in, mid, instance),
			tallyAgent(ns+SecondAgent, mid, out, instance),
		},
	}
}

// tallyAgent returns an agent named name that tallies each record of in by
// key and forwards it to out, adding instance to its By.
func tallyAgent(name string, in, out topology.Stream[Event], instance string) topology.Agent[Tally] {
	return topology.Agent[Tally]{
		Name:  name,
		State: topology.JSON[Tally](),
		Inputs: []topology.Input[Tally]{
			topology.Consume(in, func(c *topology.Context[Tally], key string, e Event) error {
				if e.Key != key {
					return fmt.Errorf("event of key %q under record key %q: %w", e.Key, key, topology.ErrPermanent)
				}
				t, _, err := c.State()
				if err != nil {
					return err
				}
				t.Last = e.Seq
				t.Count++
				t.Sum += e.Seq
				if err := c.SetState(t); err != nil {
					return err
				}
				if instance != "" {
					if e.By != "" {
						e.By += ","
					}
					e.By += instance
				}
				return topology.Emit(c, out, key, e)
			}),
		},
		Outputs: []topology.Topic{out},
	}
}
