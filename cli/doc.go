// Package cli turns a topology into a complete command-line program: one call,
// [Main], gives a binary that runs, describes, draws and provisions it.
//
// # Commands
//
// A binary built around a [topology.Graph] has these commands:
//
//   - run: runs the graph's agents with [topology.Run] until SIGINT or SIGTERM
//     (flags --agents, --brokers, --data-dir, --listen, --replication, --log-level).
//     Without --brokers it starts the embedded broker and logs its address as
//     addr=HOST:PORT, for any Kafka client.
//   - describe: prints [topology.Graph.Describe].
//   - graph --format mermaid|dot: prints the drawing.
//   - topics: creates and checks the topics with [topology.Provision] and prints a
//     table of them, on --brokers or on the embedded broker.
//   - serve --tables TABLE,...: serves lookups of the tables over HTTP from
//     local copies that keep answering while the broker is down (package
//     lookup): GET /tables/{table}/{key}, batches, /features/{entity},
//     /healthz, /readyz, /metrics, on --http (default 127.0.0.1:8081).
//   - broker: runs the embedded broker alone (--listen, --data-dir).
//   - version: prints the versions of the program, sluice and Go.
//
// The generic sluice binary (cmd/sluice) calls Main(nil) and has only broker and
// version.
//
// # Environment
//
// Every flag is also read from the environment variable SLUICE_ followed by its
// name in upper case with dashes as underscores (SLUICE_BROKERS, SLUICE_DATA_DIR,
// SLUICE_FORMAT, ...). A flag on the command line wins over the environment,
// which wins over the default.
//
// # Errors and exit status
//
// Errors are printed as one line on stderr, prefixed by the program's name, and
// say what to fix; there is no usage dump. A bad flag, environment variable,
// agent name or listen address, or an invalid graph, exits with [ExitUsage] (2);
// a failure while running exits with [ExitFailure] (1); success and a clean stop
// on SIGINT or SIGTERM exit with [ExitOK] (0).
//
// # Usage
//
//	func main() {
//		cli.Main(clickcount.Graph())
//	}
//
// then
//
//	clickcount describe
//	clickcount graph --format dot | dot -Tsvg > clickcount.svg
//	clickcount run --data-dir /var/lib/clickcount
//	SLUICE_BROKERS=kafka-1:9092,kafka-2:9092 clickcount run --agents click-counter
//
// [Command] returns the root command to embed in a larger command line, and
// [Execute] runs it with the error printing and exit statuses of Main.
//
// # All in one process
//
// [Drive] runs a graph and a driver beside it: a step once the broker is up
// (print where things are, write a routing table), then the driver proper
// once every agent has partitions (send records, follow them, summarise),
// and the pipeline stops when the driver returns. The all commands of the
// visa and fraud examples are built on it.
package cli
