// Package kafkareal runs Apache Kafka itself, as KRaft nodes on loopback,
// for sluice's tests against a real cluster and for `make kafka`.
//
// # Installation
//
// [Install] finds Kafka's jars: $SLUICE_KAFKA_HOME (a Kafka distribution)
// if set, else ~/.cache/sluice/kafka/VERSION, which it fills once with
// Maven from Maven Central ([Version] is the one place the version is
// pinned; pom.xml names the artifacts). Kafka needs Java 17 or later.
//
// # Clusters
//
// [Start] formats and starts a cluster of 1 or 3 nodes (each a controller
// and a broker in one JVM, KRaft combined mode) on free ports, each node
// with its own directory, a small heap and few threads for a 2-core
// machine, and returns when every node serves. [Cluster.Kill] sends a node
// SIGKILL, [Cluster.Stop] stops it gracefully, [Cluster.Restart] starts it
// again on the same ports and data, and [Cluster.Leader] finds a partition's
// leader. [Cluster.Tool] runs Kafka's own command-line tools
// (kafka-consumer-groups, kafka-transactions) against the cluster.
//
// No JVM outlives the process that started it: each is started from one
// OS thread with PR_SET_PDEATHSIG, so the kernel kills it when the process
// dies for any reason (a test timeout, SIGKILL), and [Cluster.Close] kills
// them all before.
//
// # Tests
//
// [Shared] gives a test package one cluster for all its tests, stopped by
// [Main] in TestMain; where Java or Maven is missing it skips with what to
// install, and fails instead where CI runs ([ci.Strict]).
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(kafkareal.Main(m)) }
//
//	func TestOnKafka(t *testing.T) {
//		c := kafkareal.Shared(t, kafkareal.Config{Nodes: 3})
//		cl, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
//		...
//	}
package kafkareal
