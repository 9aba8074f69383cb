// Package visa is sluice's flagship example: a multi-level visa scrutiny
// pipeline in which each level is an agent that decides where an application
// goes next from data.
//
// # Pipeline
//
// Applications (JSON keyed by application_id) enter on visa-applications-in.
// Level A checks the passport and completeness, levels B (funds against stay
// length), C (invitation letter), D (prior refusals and final risk) and E
// (medical certificate) each read their scrutiny queue, scrutiny-queue-B to
// scrutiny-queue-E. Every application ends with exactly one [FinalDecision] on
// final-decisions-out: approved, rejected or needs_review, with its reasons and
// its path, the [Step] of every level that handled it, in order, with the time
// and the level's [Finding]. With the [DefaultRoutes]:
//
//	tourist:  A -> final-decisions-out
//	business: A -> B -> C -> D -> final-decisions-out
//	student:  A -> B -> D -> final-decisions-out
//
// A level may end a path early only with a reason: a rejection or a
// needs_review. A visa type without a route ends at A as needs_review, saying
// so. A record that is not an application at all (broken JSON) goes to level A's
// dead-letter topic, level-a-dlq (see Bad input below). Nothing is dropped: every
// record ends in final-decisions-out or in a dead-letter topic.
//
// # Routing slip
//
// Routes are data. The routing table, [RoutesTable], is the compacted topic
// visa-routes: one [Route] per visa type, keyed by the type, listing the queues
// after level A. Level A looks the route up (a goka lookup table, see
// topology.Lookup) and writes it into the [Document] as its routing slip; each
// level pops the next hop off the slip and routes with topology.EmitTo, and the
// level that finds the slip empty approves. Changing a route, or adding one for
// a new visa type, is writing one record ([WriteRoutes], or 'visa routes --set
// work=B,E,D'); level A applies it to the applications it reads after its view
// of the table has caught up, a moment later. A route that names a queue
// outside the catalog, or a slip that does, ends the path as needs_review.
//
// No agent owns the table: its topic is the table. An owning agent would add a
// consumer group between the operator's write and level A's view, and a race at
// start: level A could read applications before that agent had read the
// routes. Written directly, routes that exist when level A starts are in its
// view before it reads its first application, because goka recovers lookup
// tables before it processes anything.
//
// # Routing universe
//
// topology checks every emit against the agent's declared Outputs (an emit
// elsewhere is dead-lettered with topology.ErrUndeclaredOutput), and an agent's
// outputs are fixed when it starts. So that a new route needs no restart, every
// level declares every other level's queue of the catalog, [Levels], as an
// output: any level may route to any other. A graph that does not run a level
// still declares its queue, as a sink ([Graph]): applications routed there wait
// in Kafka until the level's agent runs, in this process or another.
//
// Adding level E and a work visa type (A -> B -> E -> D) to a running pipeline is
// therefore data plus one agent: write the work route, and start level E
// (Graph(d, "E") in a run of its own, or 'visa run --agents level-e'); levels A
// to D keep running, unchanged. TestAddLevelE does exactly that. Adding a level
// beyond the catalog, F, is a code change: F joins [Levels], and the other
// levels pick up its queue as an output when they next restart (a rolling
// restart; no topic, partition or state changes).
//
// # Memory
//
// Each level has its own consumer group (level-a, level-b, ...) and a table, a
// Pebble store backed by a compacted changelog (level-b-table, ...), holding its
// [Memory] of each application: what it saw, what it decided, how many times it
// has seen it. A level restarted elsewhere rebuilds its table from the
// changelog and goes on with that context. An application seen again (sent
// twice, or delivered again after a crash: delivery is at least once) is
// recognised: its step says times_seen 2 and notes the earlier decision.
//
// # Deciders
//
// What a level concludes comes from a [Decider]: [Rules] is the deterministic,
// rule-based one, used by default. [ByLevel] gives levels different deciders.
// A Decider's error fails the record, which is retried and then dead-lettered;
// a finding the level cannot act on (an unknown decision, an ending without a
// reason) ends the path as needs_review.
//
// # Slow deciders
//
// A level handles the records of a partition one at a time, calling its
// Decider in between: fine for the rules, which answer in microseconds, but a
// model answering in 200 ms would hold each partition to 5 applications a
// second. [GraphConcurrent] gives each level up to N decider calls in flight
// per partition (topology.ConsumeAsync): calls of one application stay in
// order, each finding passes through the level's loop topic (level-a-loop, ...)
// to the step that updates the level's memory and routes the document, and an
// input offset is committed only once everything before it is done.
//
// # The desk
//
// [GraphWith] with [Options] asking for SLAs or review adds the desk, an agent
// keyed by application ID ([DeskAgent]) that then writes every final decision:
// levels report their progress to it on [Reports]. A level's SLA is a timer of
// the desk (topology's durable per-key timers): if it fires before the level
// answers, the application ends as needs_review, "SLA exceeded at level X",
// and a later answer goes to the case's audit trail only. With review,
// needs_review applications wait in the desk's table ([DeskTable], the review
// table) until a [ReviewDecision] on [Reviews]; the final decision's path then
// ends with the reviewer's step, and a review not given within its SLA is
// escalated, by a second timer. [ReviewView] is the live page's view of the
// review table. Everything the desk does besides final decisions goes to
// [DeskEvents]; [Tally.DeskWatcher] counts it for a run's [Summary].
//
// # Retries on timers
//
// With [Options] Retry, a level whose [Decider] returns a [RetryLater] (the
// [LLMDecider] after a rate limit or a timeout, told the attempt by [Attempt])
// sets a timer and asks again through its [RetryQueue] when it fires, instead
// of waiting in its partition.
//
// # Bad input
//
// A record that is not a document of the pipeline goes to the dead-letter
// topic of the level that reads it, with a sluice-error header saying why:
// broken JSON or JSON of the wrong shape (cause decode), a document on a
// scrutiny queue without a path, which did not pass level A, and a document
// larger than [MaxDocumentBytes] (cause handler). An unusable record of the
// routing table is no dead letter, as the table is looked up, not consumed:
// each application of its visa type ends at level A as needs_review, saying
// the route is unreadable or unusable.
//
// # Lag
//
// [Lag] reads each level's consumer lag from the cluster: the records of its
// queue (and loop topic) past its group's committed offsets, the whole queue for
// a level that never ran.
//
// # Usage
//
//	g, err := visa.Graph(visa.Rules{})             // every level; or Graph(d, "A", "B")
//	...
//	err = topology.Run(ctx, g, topology.Brokers(addrs...))
//
// with the routes written once ([WriteRoutes]) and applications sent by any
// Kafka client, or by the [Generator] through [Produce]. The command in the
// parent directory runs all of it in one process and prints a [Summary] of a
// [Tally].
package visa
