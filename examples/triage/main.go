// Command triage routes support tickets through three agents, each of which
// can run in its own process: triage reads the "tickets" topic (JSON tickets
// keyed by ID), counts how often it has seen each ticket, and routes it by
// priority, high to the urgent agent and low to the normal agent, which resolve
// it; a ticket of any other priority goes straight to "resolved" with a reason.
// Every ticket reaches "resolved" with the Path it took.
//
// The binary is the sluice command line around the graph (see package cli):
// run, describe, graph, topics and broker. To run the agents on one machine as
// separate processes, start a broker in one terminal:
//
//	go run ./examples/triage broker
//
// and one agent (or several instances of one) per terminal:
//
//	go run ./examples/triage run --agents triage --brokers 127.0.0.1:9092 --data-dir sluice-data/triage-1
//	go run ./examples/triage run --agents urgent,normal --brokers 127.0.0.1:9092 --data-dir sluice-data/queues
//
// Instances of an agent share its partitions; stop one and the others take its
// partitions over. Or run every agent in one process on an embedded broker:
//
//	go run ./examples/triage run
//
// Produce tickets to the "tickets" topic at 127.0.0.1:9092 and read "resolved"
// with any Kafka client whose partitioner hashes keys with murmur2 as sluice
// does (the Java client's and franz-go's default), kcat for one:
//
//	echo 't1:{"id":"t1","priority":"high","text":"site down"}' |
//		kcat -b 127.0.0.1:9092 -t tickets -K: -P -X partitioner=murmur2_random
//	kcat -b 127.0.0.1:9092 -t resolved -C -e
package main

import "github.com/sluicehq/sluice/cli"

func main() {
	cli.Main(Graph())
}
