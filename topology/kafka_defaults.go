package topology

import (
	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/gokax"
)

// DefaultKafkaConfig returns a new copy of sluice's sarama configuration:
// the settings every client Run, [NewView], [NewEmitter] and [Provision]
// create start from (the README's table "Defaults that differ from goka's"
// says each and why). Change the settings you need and pass it to
// [KafkaConfig]; each call returns a fresh copy:
//
//	cfg := topology.DefaultKafkaConfig()
//	cfg.Producer.Compression = sarama.CompressionZSTD
//	topology.Run(ctx, g, topology.Brokers(addrs...), topology.KafkaConfig(cfg))
//
// No sarama client runs: every client is franz-go's, built from this
// configuration. The struct is sarama's so that a setting keeps the name
// goka's and sarama's users know; a setting not named below has no effect.
//
// A processor (the client of a running agent) reads from it its connection
// and security (Net.TLS, Net.SASL, Net.DialTimeout, Net.Proxy, Version,
// Metadata.Retry.Backoff), Producer.RequiredAcks, .Compression,
// .MaxMessageBytes, .Timeout and .Flush.Frequency, Consumer.Offsets.Initial,
// .Offsets.AutoCommit.Interval (how often it commits), .MaxWaitTime,
// .Fetch.Default, .IsolationLevel and .Group.Session/.Heartbeat/.Rebalance
// timing, and ChannelBufferSize (records queued per partition), and
// overrides these whatever the configuration says:
//
//   - ClientID: "sluice-AGENT" and the like, per client.
//   - Producer.Idempotent and Net.MaxOpenRequests: off and one request in
//     flight per broker, so that a retried write keeps a partition's order;
//     in exactly-once mode idempotent with acks=all, as Kafka requires.
//   - Producer.Retry: writes are retried in order until Producer.Timeout,
//     not Retry.Max times; a write that fails stops the processor, which
//     replays from its last commit.
//   - Producer.Partitioner: Kafka's murmur2 ([Partition]), so that a key's
//     records and state share a partition whoever wrote them.
//   - Producer.MaxMessageBytes: lowered to fit an existing topic's
//     max.message.bytes (a larger record goes to the dead-letter topic).
//   - Consumer.Offsets.AutoCommit.Enable and the partition assignor: offsets
//     are committed by sluice, in order, after every write a record caused;
//     partitions are balanced by ranges (co-partitioned inputs together).
//   - Consumer.IsolationLevel: read_committed in exactly-once mode.
//
// An emitter writes with the same producer settings and overrides (its
// ClientID is "sluice-emitter-STREAM"; MaxMessageBytes is taken as given),
// but a failed write fails only its own Emit. A view reads its table with
// the connection settings, Consumer.MaxWaitTime, .Fetch.Default and
// ChannelBufferSize, from the oldest offset (read_committed with
// [ExactlyOnce]). Provisioning, size checks, lag and the live page use
// ClientID, Net.TLS and Net.SASL alone.
//
// Every producer, a processor's and an emitter's, runs Producer.Interceptors
// on each record (sarama's KIP-42 interceptors): OnSend may change its
// Timestamp and Headers (a record dated back further than Producer.Timeout
// fails: franz-go times a write out from its timestamp); its Topic, Key and
// Value are sent as sluice made them.
func DefaultKafkaConfig() *sarama.Config { return gokax.Config() }
