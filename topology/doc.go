// Package topology declares stream-processing topologies in Go and runs them on
// Kafka as goka processor groups.
//
// # Streams and tables
//
// A [Stream] is a typed handle to a topic with cleanup.policy=delete: a name and a
// [Codec]. A [Table] is an agent's state: a compacted changelog topic holding the
// latest value per key, rebuilt into local Pebble storage (package tables) when an
// agent starts on a new machine or loses its disk.
//
// # Agents
//
// An [Agent] is a goka processor group: it reads input streams, calls a typed
// [Handler] for each record, keeps state of type S per key, and emits to the
// streams it declares as Outputs. Each agent has its own consumer group, so every
// agent scales on its own: start more processes running it and they share its
// partitions.
//
// # Routes
//
// An agent decides from the event's data where it goes next: its handler emits to
// one, several or none of its declared outputs, by handle ([Emit]) or by name
// ([EmitTo]). Emitting to a topic the agent did not declare is an error and sends
// the record to the dead-letter topic; it never reaches goka's panic.
//
// # Dead letters
//
// A record that cannot be decoded, whose handler keeps failing (see [Retries]) or
// panics, or that is routed to an undeclared topic goes to the agent's dead-letter
// topic, [DeadLetterName](agent), with headers naming the error, the source topic,
// partition and offset, the agent and the time ([HeaderError] and friends). The
// agent goes on with the next record: a poison pill never stops it.
//
// # Timers
//
// An agent with [Agent.OnTimer] may ask, from any handler, to be called back
// about the record's key later: [Context.SetTimer] at a wall-clock time, or at
// a stream time (when the partition's records reach it), replacing or
// cancelling ([Context.CancelTimer]) the key's timer of the same name. Timers
// are kept in Kafka with the handling that set them and fire, on whichever
// instance owns the key's partition, as a record of the agent: OnTimer runs
// with the key's state and the same buffering, retries, dead letters and
// exactly-once mode as an input handler.
//
//	OnTimer: func(c *topology.Context[Order], id string, t topology.Timer) error {
//		o, _, err := c.State()
//		if err != nil || o.Paid {
//			return err
//		}
//		return topology.Emit(c, Reminders, id, "unpaid after an hour")
//	},
//	// in an input handler:
//	err := c.SetTimer(topology.Timer{Name: "unpaid", At: c.Now().Add(time.Hour)})
//
// # Running
//
// A [Graph] collects agents with the sources and sinks that connect it to the
// world. [Graph.Validate] checks it, [Provision] creates its topics, and [Run] runs
// all of its agents or a subset, supervising each: an agent that fails is
// restarted with backoff.
//
//	var Clicks = topology.Stream[Click]{Name: "clicks", Codec: topology.JSON[Click]()}
//
//	counter := topology.Agent[int64]{
//		Name:  "click-counter",
//		State: topology.Int64(),
//		Inputs: []topology.Input[int64]{topology.Consume(Clicks,
//			func(c *topology.Context[int64], user string, _ Click) error {
//				n, _, err := c.State()
//				if err != nil {
//					return err
//				}
//				return c.SetState(n + 1)
//			})},
//	}
//	g := &topology.Graph{Name: "clicks", Sources: []topology.Topic{Clicks}, Agents: []topology.AgentDecl{counter}}
//	err := topology.Run(ctx, g, topology.DataDir("data"))
package topology
