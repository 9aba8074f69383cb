// Package observe watches a running topology from the outside: consumer lag
// per agent and partition, and a live page that draws the graph with each
// agent's throughput, lag and dead letters and looks up table values.
//
// # Lag
//
// Every agent is a consumer group named after it. [Lag] asks the broker for
// the groups' committed offsets and the partitions' log end offsets, and for
// every partition that lags reads the record at the committed offset for its
// timestamp: the age of the oldest record the agent has not processed.
// [GraphLag] does the same for every agent of a graph and also reports the
// input partitions an agent has not committed to yet. The lag command of
// package cli prints rows as a table like kafka-consumer-groups --describe.
//
// # Live page
//
// A [Server] serves, for one graph, the page at / (the graph drawn as an SVG
// with live figures, refreshed every second, and a table lookup), the JSON it
// polls under /api/, and optionally /metrics. Every asset is embedded: the
// page loads nothing from elsewhere.
//
// # Usage
//
//	srv, err := observe.NewServer(g, observe.Brokers(addrs...))
//	if err != nil { ... }
//	err = srv.ListenAndServe(ctx, "127.0.0.1:8080") // until ctx is done
//
// When the broker's address is known only later, as with [topology.Run]'s
// embedded broker, create the server without [Brokers] and call
// [Server.SetBrokers] from [topology.OnProvisioned].
package observe
