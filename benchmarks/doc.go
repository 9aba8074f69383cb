// Package benchmarks holds sluice's performance workloads as library code,
// each run beside goka's default so that every figure has a baseline.
//
// # Workloads
//
// A workload is a config struct and functions that build and drive it; the
// benchmarks in the package's tests wrap them in testing.B, and other tools
// may drive them directly. Sub-benchmarks are named key=value for benchstat.
//
// # Storage
//
// [OpenStore] opens a table partition on one of [Stores]: "pebble" (package
// tables), "leveldb" (goka's default storage) or "memory" (goka's). Two
// workloads drive goka's storage.Storage interface exactly as goka does:
//
//   - [UpdateWorkload]: per message, Get a key's value, Set an 8-byte value
//     and SetOffset, on random keys of a recovered table
//     (BenchmarkStorageUpdate, in msgs/s).
//   - [Replay]: recovery from the changelog, Set and SetOffset per record and
//     then MarkRecovered (BenchmarkStorageRecovery, 1,000,000 records over
//     100,000 keys, in records/s).
//
// # End to end
//
// The end-to-end benchmarks run sluice (topology.Run with its defaults, in
// both modes) and goka (a raw goka processor with goka.DefaultConfig and
// LevelDB storage) as sub-benchmarks broker=B/impl=I/mode=M, on two brokers:
// broker=embedded, the embedded kfake broker in the benchmark's process (in
// memory, compaction off), and broker=kafka, Apache Kafka 4.4 (one KRaft
// node, internal/kafkareal). On the real broker they run beside
// impl=kstreams, Kafka Streams 4.4 with its defaults (RocksDB state) except
// the commit interval, which is sluice's, at-least-once and exactly_once_v2:
// the Maven project in kstreams/, whose jars the benchmark fetches from Maven
// Central into ~/.cache/sluice/kafka and whose sources it compiles with javac.
// goka's config differs from its defaults only where the brokers require it:
// groups start at the oldest offset (goka's newest would skip the
// pre-produced input) and topics get replication 1 (goka asks for 2; each
// broker has one node). Their workloads live in the test files, as only
// tests may import goka:
//
//   - BenchmarkProcessorCount: a counting agent, 8 partitions, 1,000 keys,
//     100-byte values, msgs/s from the first record processed until every
//     record's state is in Kafka.
//   - BenchmarkRecovery: a table restored from a changelog of 1,000,000
//     records over 100,000 keys, records/s (assignment until the first input
//     record is processed), restart_ms (start of the processor until then),
//     and the peak heap and RSS meanwhile, with [MemorySampler].
//   - BenchmarkPipelineLatency: 4 pass-through agents at 2,000 and 20,000
//     records/s, p50_ms, p99_ms and max_ms from the producer to the consumer
//     of the last topic. A further impl, franz-go, runs each hop as a bare
//     franz-go client: the latency floor of the broker and machine.
//   - BenchmarkEmitter: 300,000 records from outside the graph, msgs/s.
//   - BenchmarkCeiling: raw franz-go consume->produce, msgs/s: what the broker
//     and machine allow, to read the others as a share of.
//   - BenchmarkPartitionScaling: one counting agent on 4, 64, 256 and 1024
//     partitions, 100,000 records over 5,000 keys. Here impl=goka is goka's
//     LevelDB storage under sluice's runtime, so that the two differ by
//     storage alone: msgs/s, ready_ms (start to first record),
//     msgs/s_from_start (records over both), rss_mb (peak,
//     broker included), disk_mb of the state directory after a clean stop,
//     open fds, and cpu_us/msg (process CPU from start to the last write,
//     per record: steadier than msgs/s on a shared machine).
//   - BenchmarkExactlyOnce: the counting agent in both of sluice's modes.
//
// Each end-to-end benchmark runs -rounds rounds (5 by default), every variant
// once per round in an order rotated each round, so that a drift of the
// machine reaches all variants alike; each row reports the median over the
// rounds, and sluice's rows add their ratio to every other row of the same
// broker (x_IMPL_MODE), the median of ratios taken within a round.
// -brokers=embedded or -brokers=kafka runs one broker only.
//
// TestBenchmarksShort and TestBenchmarksShortKafka run each of them with a
// few thousand records in `make test`, so that they never rot.
//
// # Running
//
//	go test -run '^$' -bench Storage -benchtime 3x -count 5 ./benchmarks/ | tee new.txt
//	go test -run '^$' -bench 'ProcessorCount|Recovery|PipelineLatency|Emitter|Ceiling' -benchtime 1x ./benchmarks/ -rounds=5 | tee -a new.txt
//	benchstat new.txt
//
// (or make bench BENCH=... ROUNDS=5 BROKERS=embedded,kafka). Flags of the
// benchmarks package (-rounds, -brokers) go after the package. Each
// end-to-end run takes seconds; on a shared machine read the ratios.
//
// Setting up the memory store of BenchmarkStorageUpdate takes about 17 s:
// goka's memory storage sorts all its keys for each new key.
package benchmarks
