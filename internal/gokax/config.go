package gokax

import (
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// KafkaVersion is the protocol version sluice speaks: the lowest that has everything
// sluice uses (idempotent producer, KIP-394 member ids) and that kfake serves.
var KafkaVersion = sarama.V2_8_0_0

// Session timing. goka sleeps a hard-coded 5 s before it rejoins a group after a
// rebalance error, so a session timeout at or below that lets members expire while
// they sleep. Measured on kfake (FINDINGS.md): join/leave 6.6 s and kill -9 takeover
// 11.6 s with 6 s/1 s, against 8.6 s and 17.6 s with sarama's 10 s/3 s; with
// 2 s/300 ms the group never settled. 6 s was the default until a process
// starved of CPU (the visa pipeline's 10k test with -race and 12 busy loops on
// 2 cores) missed it: its groups rebalanced together, again and again (seen in
// the log of an exactly-once run), and at-least-once levels replayed records up
// to 7 times (12,762 final decisions for 9,915 applications, 3m8s). With 10 s
// the same run gave one decision each in 1m23s (with 20 s, too). A crash takes
// ~4 s longer to take over; Kafka raised its own default to 45 s for the same
// reason (KIP-735). These were measured on sarama's consumer group; processors
// now run on franz-go's (kgo_group.go), where goka's sleep is gone (sessions run
// back to back) and a crash takes over in about the session timeout.
const (
	DefaultSessionTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = 1 * time.Second
	// DefaultRebalanceTimeout bounds a rebalance: see [Config].
	DefaultRebalanceTimeout = 20 * time.Second
)

// Config returns a new sarama configuration with sluice's defaults. Each setting that
// differs from goka's DefaultConfig says why. Callers may change the result before
// passing it on; every builder in this package clones it before use. No sarama
// client runs: every client is franz-go's, built from the settings kgo_config.go
// translates (topology.DefaultKafkaConfig's doc lists them for users).
func Config() *sarama.Config {
	c := goka.DefaultConfig()
	c.Version = KafkaVersion
	c.ClientID = "sluice"

	// goka: OffsetNewest, which skips every record produced before a new group starts.
	// A stream processor must see its input from the beginning.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest

	// goka: 500 ms (sarama's default). After the last changelog record a recovering
	// table waits one MaxWaitTime before it reports recovered, and every hop of a
	// pipeline may wait that long for a fetch to fill: 10 ms saves 0.5 s per recovery
	// and keeps hop latency in milliseconds.
	c.Consumer.MaxWaitTime = 10 * time.Millisecond

	c.Consumer.Group.Session.Timeout = DefaultSessionTimeout
	c.Consumer.Group.Heartbeat.Interval = DefaultHeartbeatInterval
	// sarama: 60 s, the longest the coordinator holds a JoinGroup answer while it
	// waits for the other members to rejoin; but sarama waits for any answer at
	// most Net.ReadTimeout (30 s), then drops the connection and joins again. When
	// a killed member never rejoins, every JoinGroup times out that way, and the
	// soak saw agents fail every 30 s with "i/o timeout" and a partition unowned
	// for up to 8 minutes (4 of ~11 runs). The rebalance timeout must stay below
	// the read timeout, and above goka's 5 s sleep before a member rejoins (both
	// sarama's consumer group's; franz-go's, which processors use, waits for a
	// JoinGroup answer the rebalance timeout plus its read timeout).
	c.Consumer.Group.Rebalance.Timeout = DefaultRebalanceTimeout

	// goka: acks=1 (WaitForLocal): a leader failover loses acknowledged records.
	// acks=all waits for every in-sync replica (min.insync.replicas=min(2, rf)).
	c.Producer.RequiredAcks = sarama.WaitForAll
	// The idempotent producer stays off, although it wrote 0 duplicates under
	// timeout-after-apply faults (FINDINGS.md): in sarama v1.46.3 it can acknowledge
	// a record that is never written. After a failed write sarama bumps the producer
	// epoch and restarts sequence numbers, but a batch built afterwards may carry
	// records numbered before the bump under the new epoch; two different records
	// then share an epoch and sequence, and the broker acknowledges the second as a
	// retry of the first. The broker-outage tests lost records so in 5 of ~45 runs,
	// and in none of ~20 without it. A lost acknowledged record is worse than a
	// duplicate, which at-least-once processing produces anyway. No client reads
	// this setting now: every producer is franz-go's, which kgoProducerOpts keeps
	// non-idempotent for a reason of its own (see there); it says what runs.
	c.Producer.Idempotent = false
	// Fewer requests in flight per broker, fewer batches a failure can reorder.
	// Not read either: kgoProducerOpts keeps one produce request in flight per
	// broker (at-least-once), so that a retry keeps a partition's order.
	c.Net.MaxOpenRequests = 1
	// Not read: every producer (processors', emitters', timers' fire records) is
	// franz-go's and retries in order until Producer.Timeout (kgoProducerOpts); a
	// processor's stops at its first failed write (kgo_producer.go).
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	// sarama: 1 MiB. A batch of records may be that large plus its 61-byte header,
	// which is above Kafka's default max.message.bytes (1048588): the broker refuses
	// it for good and the processor stops on every retry. sluice creates topics with
	// max.message.bytes = MaxMessageBytes + 61 and lowers MaxMessageBytes to fit
	// existing topics; a record above it goes to the dead-letter topic.
	c.Producer.MaxMessageBytes = 1048588 - 61

	// goka: flush every 100 ms or 64 KiB. That adds up to 100 ms at every producer on a
	// path: sending immediately took a 4-hop pipeline's p99 from hundreds of
	// milliseconds to a few, with no throughput loss (BenchmarkPipelineLatency; the
	// README's defaults table has the figures). The producer (franz-go's, with
	// Flush.Frequency as its linger) still batches whatever queues up while a
	// request is in flight.
	c.Producer.Flush.Frequency = 0
	c.Producer.Flush.Bytes = 0
	c.Producer.Flush.Messages = 0

	// goka: snappy. Records are small and mostly local; compression cost CPU on 2 cores
	// for little gain. Users on a real cluster may turn it back on.
	c.Producer.Compression = sarama.CompressionNone

	// goka: 256 (sarama's default). The records queued per partition between the
	// client's poll and goka (a processor's claims, kgo_session.go; a table
	// consumer's partitions, kgo_partition.go); larger queues let a partition run
	// ahead of a brief stall elsewhere. Together with [PartitionChannelSize] this
	// made a counting agent faster (measured on sarama's consumer with
	// BenchmarkProcessorCount's workload, alternated runs; figures in the README's
	// defaults table); recovery did not change measurably.
	c.ChannelBufferSize = 1024

	// goka: 1 MiB (sarama's default), asked per partition in every fetch (franz-go's
	// FetchMaxPartitionBytes now). sarama, which ran table consumers until
	// franz-go replaced it, decoded a whole fetch into messages and fetched again
	// only when every partition had queued all of its share, so a recovering table
	// of small records (1 MiB is some 25,000 of them) held hundreds of MB of decoded
	// messages while the partitions drained them in lock step. 64 KiB made
	// recovery faster and its peak heap several times smaller
	// (BenchmarkRecovery's workload, alternated runs; figures in the README's
	// defaults table); counting throughput did not change measurably.
	c.Consumer.Fetch.Default = 64 << 10

	// goka: a go-metrics registry (sarama's default), which a sarama client feeds
	// about a dozen meters and histograms on every request and response: rates,
	// sizes and latencies, per broker and per topic, each histogram update a lock
	// and a heap operation on a 1028-sample reservoir. sluice reads none of them
	// (its instruments are in the metrics package), and while sarama clients ran
	// they were a visible share of BenchmarkPipelineLatency's CPU profile (README's
	// defaults table). No sarama client runs now, so nothing feeds a registry; this
	// one keeps a sarama client a user builds from the configuration as cheap.
	c.MetricRegistry = noMetrics{}

	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	return c
}

// clone returns a shallow copy of c, enough for the per-builder fields (ClientID,
// Partitioner) goka's builders overwrite.
func clone(c *sarama.Config) *sarama.Config {
	cc := *c
	return &cc
}
