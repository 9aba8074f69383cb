package visa

import "github.com/sluicehq/sluice/topology"

var (
	// Applications is the pipeline's input: applications keyed by their ID,
	// read by level A.
	Applications = topology.Stream[Application]{Name: "visa-applications-in", Codec: topology.JSON[Application]()}
	// Final is the pipeline's output: one decision per application.
	Final = topology.Stream[FinalDecision]{Name: "final-decisions-out", Codec: topology.JSON[FinalDecision]()}
	// RoutesTable is the routing table: a compacted topic holding the [Route] of
	// each visa type, keyed by the type, that level A looks up. Nothing in the
	// graph writes it; operators do, one record per route (see [WriteRoutes]).
	RoutesTable = topology.Table[Route]{Name: "visa-routes", Codec: topology.JSON[Route]()}
	// routeUpdates is the same topic as a stream, for an emitter: emitters write
	// streams, and the emitter is not part of the graph.
	routeUpdates = topology.Stream[Route]{Name: RoutesTable.Name, Codec: RoutesTable.Codec}
	// rawApplications is [Applications] with its bytes as they are, for the
	// generator's malformed records.
	rawApplications = topology.Stream[[]byte]{Name: Applications.Name, Codec: topology.Bytes()}
)

// DeadLetters returns the dead-letter stream of the level named level, as a
// stream of the original record bytes.
func DeadLetters(level string) topology.Stream[[]byte] {
	l, _ := LevelOf(level)
	return topology.Stream[[]byte]{Name: topology.DeadLetterName(l.Agent()), Codec: topology.Bytes()}
}

// MemoryTable returns the table of the level named level: its [Memory] of each
// application, keyed by application ID.
func MemoryTable(level string) topology.Table[Memory] {
	l, _ := LevelOf(level)
	return topology.Table[Memory]{Name: topology.TableName(l.Agent()), Codec: topology.JSON[Memory]()}
}
