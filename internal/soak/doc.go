// Package soak is sluice's sequence-check soak test, modelled on Kafka Streams'
// exactly-once system test and Flink's sequence check: records with per-key
// increasing sequence numbers go through a chain of two stateful agents, each
// in processes of its own, while agent processes are killed and restarted,
// instances come and go, and the broker process is killed and restarted; then
// a verifier compares what came out, and what the agents' tables hold, with
// what went in.
//
// # Topology
//
// [Graph] has two agents, "first" and "second". Each keeps a [Tally] per key
// in its table (the last sequence number, how many records, their sum) and
// forwards every [Event]: the [Input] stream to first, [Middle] to second,
// [Output] out.
//
// # Generator
//
// A [Generator] writes [Event]s for a number of keys, each key's sequence
// numbers 1, 2, 3, ... in order, at a steady rate, and keeps the set of
// records the broker acknowledged: only those count as sent.
//
// # Verifier
//
// [Verify] reads the input, the output and the agents' tables to their ends
// and [Check] compares them: a sent record missing from the output is lost; a
// sequence number lower than one already seen for its key, and not itself
// seen before, is reordered; output records beyond the input's copies are
// duplicates; a table entry that differs from the one recomputed from the
// input is a mismatch. At-least-once mode promises the first two and the last
// sequence number of every table entry; its counts and sums may only be too
// high. Exactly-once mode promises everything.
//
// # Orchestrator
//
// [Run] runs the whole soak: a broker process, two instances of each agent,
// the generator, the faults, the catch-up and the verifier. With
// [Config.RealKafka] (or a running [Config.Kafka] cluster) it runs on a 3-node
// Apache Kafka cluster instead, whose faults are a cluster's: the SIGKILL of
// a partition leader, a rolling restart, a node down longer than the session
// timeout. Processes are the
// binary cmd/sluice-soak: 'sluice-soak run' runs the orchestrator, which starts
// 'sluice-soak broker' and 'sluice-soak agent'; the last line it prints is the
// [Report]:
//
//	go run ./cmd/sluice-soak run --records 200000 --keys 100 --duration-cap 10m
//	records=200000 lost=0 reordered=0 duplicates=6326 table_mismatches=0 table_overcounts=200 kills=5 broker_bounces=2 rebalances=4 mode=at-least-once elapsed=2m12s
package soak
