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
// panics, that is routed to an undeclared topic, whose effects are too large for
// the broker ([ErrTooLarge]) or that the broker refused for good ([ErrRefused])
// goes to the agent's dead-letter topic, [DeadLetterName](agent), with headers
// naming the error and its cause ([Cause]: decode, handler, panic, route, size,
// refused), the source topic, partition and offset, the agent and the time
// ([HeaderError] and friends). A handler error wrapping [ErrPermanent] is not
// retried. The agent goes on with the next record: a poison pill never stops it.
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
//
// # Application id
//
// Every name an agent uses on the cluster derives from its name: its consumer
// group, its table's changelog, its dead-letter, loop and timers topics, its
// transactional ids in exactly-once mode, and its local state directory. Set
// [Graph.Application], as Kafka Streams' application.id, so that graphs whose
// agents share names can share a cluster: each of these names then starts
// with the application id and a dot ("shop.counter", "shop.counter-table"),
// while the streams the graph declares keep theirs. [Graph.Names] returns an
// agent's names, and Run logs the names in use in one line when it starts
// (to its [WithLogger] logger).
// The default, "", keeps the agents' own names (the names of graphs written
// before application ids), so existing topics and data dirs still work. A
// [View] of such a graph's table names it with [Table.In].
//
// # Describing a graph
//
// [Graph.Description] returns a graph's structure as typed values: each agent
// with its inputs, outputs, lookups, joins, table and internal topics, each
// topic with the settings it resolves to, its users and a function that decodes
// its values. The live page (package observe) and the command line's describe
// and graph commands build on it, as do [Graph.Describe] (text),
// [Graph.Mermaid] (a flowchart for Markdown) and [Graph.DOT] (Graphviz).
//
// # Feeding a graph: Emitter
//
// Records enter a graph through its sources. An [Emitter] writes typed
// records to one stream from outside the graph (a generator, an HTTP handler,
// a test against a broker), partitioned as agents partition, and returns
// every failed write as an error: [Emitter.Write] waits for the broker's
// acknowledgement, [Emitter.Send] does not and leaves the failure to the next
// [Emitter.Flush] or [Emitter.Close]. With the embedded broker, [OnProvisioned]
// says when and where an emitter can connect:
//
//	topology.OnProvisioned(func(addrs []string) { brokers <- addrs }) // an option of Run
//	em, err := topology.NewEmitter(Clicks, topology.Brokers(<-brokers...))
//	err = em.Write(ctx, "u1", Click{Page: "/"})
//
// # Reading tables: Lookup, Join and View
//
// An agent reads its own state with [Context.State], the table of another
// agent by any key with [Lookup] (declared in [Agent.Lookups]), and a
// co-partitioned table by the record's key with [Join] ([Agent.Joins]).
// Programs outside the graph (a lookup service, a dashboard) read a table
// through a [View], a local copy kept current from the table's changelog.
//
// How fresh a Lookup is: the instance keeps a local copy of each lookup table
// (every partition), recovered before its agent handles a record and then
// following the table's changelog. A write of the owning agent reaches the
// copy once its changelog record is acknowledged and fetched, typically
// milliseconds later; in exactly-once mode, once the owner's transaction
// commits (up to the commit interval, [DefaultCommitInterval], later).
// Nothing orders a table's updates with the agent's input records: a Lookup
// may return a value older than one written before the input record was
// sent, and two instances may see a key's value at different moments. A
// Lookup never waits for the broker: it reads the copy. Join reads the
// co-partitioned table's partition the same way. [View.Freshness] measures how far a View's copy is
// behind; a Lookup has no such measure. The Emitter example runs a graph on
// the embedded broker, feeds it and reads its table through a View.
//
// # Slow work: ConsumeAsync
//
// goka handles a partition's records one at a time, so a 100 ms model call
// caps a partition at 10 records/s. [ConsumeAsync] runs the slow, pure part
// ([Work]) for several records of a partition at once (a key's records in
// order) and applies each result with the agent's state, in order, through the
// agent's loop topic. Work may run twice for a record after a crash; agents
// with asynchronous inputs run at-least-once only.
//
// # Guarantees
//
// A handler's effects (emits, state, timers) are buffered and applied only if
// it returns nil: a failed, retried or dead-lettered record leaves no partial
// output. At-least-once (the default): no input record is lost, its offset is
// committed only after every write it caused was acknowledged, in offset
// order; a crash, a rebalance or an outage replays the records since the last
// commit, so downstream may see duplicates and state may count a record
// twice. [ExactlyOnce] writes a record's effects and its input offset in one
// Kafka transaction: read-committed readers see each effect once, at the cost
// of up to a commit interval of latency (see [ExactlyOnce] for what it covers
// and costs). In both modes a partition's records are handled in offset order,
// so a key's are; side effects outside Kafka (HTTP calls, logs) happen once
// per attempt.
//
// # Options
//
// Runtime settings are options ([Option]); declarations stay plain values.
// Every constructor ([Run], [Provision], [NewView], [NewEmitter],
// [ClientOptions]) checks its options before it starts anything: an option it
// does not take ([Agents] given to NewEmitter, say) or a value that cannot work
// (a negative retry count, an empty data dir) fails it with [ErrOption], and
// the error names the option and what to fix. Nothing is silently ignored.
//
// # Kafka settings
//
// Every client sluice creates starts from [DefaultKafkaConfig], sluice's
// defaults in sarama's configuration struct (the clients are franz-go's).
// To change one setting, change it in a copy and pass the copy with
// [KafkaConfig]; [WithSecurity] sets TLS and SASL. A running agent
// overrides some settings whatever the configuration says, to keep its
// guarantees (idempotence, retries, the partitioner, offset commits):
// DefaultKafkaConfig's doc lists what each client reads and what an agent
// overrides.
//
//	cfg := topology.DefaultKafkaConfig()
//	cfg.Producer.Compression = sarama.CompressionZSTD
//	err := topology.Run(ctx, g, topology.Brokers(addrs...), topology.KafkaConfig(cfg))
//
// # Testing
//
// Package topologytest runs a graph's agents without a broker, on goka's
// in-memory tester, with the code [Run] uses: feed records with
// topologytest.Consume, read outputs, dead letters and tables, move a fake
// clock to fire timers. The examples of this package run that way; tests of
// a graph on a broker start the embedded one (see [Run] and [OnProvisioned]).
package topology
