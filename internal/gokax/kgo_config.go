package gokax

import (
	"context"
	"fmt"
	"hash"
	"net"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/connect"
)

// The franz-go client of a processor (see [kproc]) takes its settings from
// the sarama configuration every other client of sluice gets, so that
// topology.KafkaConfig reaches it too: the settings below are translated, the
// others do not apply to franz-go or keep franz-go's defaults.

// kgoCommonOpts returns the options of every franz-go client built from cfg:
// brokers, client ID and security as every other client of sluice
// ([connect.Opts]), and connection settings.
func kgoCommonOpts(brokers []string, cfg *sarama.Config, clientID string) ([]kgo.Opt, error) {
	opts, err := connect.Opts(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("gokax: %w", err)
	}
	opts = append(opts,
		kgo.ClientID(clientID),
		kgo.DialTimeout(cfg.Net.DialTimeout),
		// franz-go refreshes metadata at most every 5 s by default, which a
		// leader change or a new topic would wait out; sarama retries after
		// Metadata.Retry.Backoff.
		kgo.MetadataMinAge(max(cfg.Metadata.Retry.Backoff, 100*time.Millisecond)),
	)
	// The protocol versions of cfg.Version, as sarama's clients speak them
	// ([KafkaVersion]): records name their topics (newer fetches and produces
	// name them by ID only, which the embedded broker's fault matchers and
	// tools reading requests cannot see), and the requests sluice's
	// transactions need are there (TxnOffsetCommit v3, KIP-447).
	if v := kversion.FromString(cfg.Version.String()); v != nil {
		opts = append(opts, kgo.MaxVersions(v))
	}
	if cfg.Net.Proxy.Enable && cfg.Net.Proxy.Dialer != nil {
		d := cfg.Net.Proxy.Dialer
		opts = append(opts, kgo.Dialer(func(_ context.Context, network, host string) (net.Conn, error) {
			return d.Dial(network, host)
		}))
	}
	return opts, nil
}

// deliveryTimeout is how long a processor's write may wait for a broker
// before it fails (franz-go's RecordDeliveryTimeout, enforced only while the
// write is not on the wire): sarama's Producer.Timeout, 10 s by default.
// Shorter outages are ridden out: writes wait and go on in order. A longer
// one fails the write, which stops the processor; the supervisor restarts
// it.
func deliveryTimeout(cfg *sarama.Config) time.Duration {
	return cfg.Producer.Timeout
}

// batchOverhead is the size of a record batch's header: a topic's
// max.message.bytes bounds a batch, Producer.MaxMessageBytes the record in
// it (sluice creates topics with max.message.bytes = MaxMessageBytes +
// batchOverhead; see topology/size.go).
const batchOverhead = 61

// kgoProducerOpts returns the producer options of cfg: acks, no linger, no
// compression (as sluice's sarama defaults), a record up to
// Producer.MaxMessageBytes, records partitioned with hasher as goka does.
//
// One request in flight per broker, without idempotence: a retry then
// keeps a partition's order (nothing after the retried batch is on the
// wire), and retries go on until [deliveryTimeout]. A retry may write a
// batch twice (after a timeout the broker had applied), which at-least-once
// allows. The idempotent producer (five requests in flight, no duplicates)
// reordered the soak's output after a SIGKILL of the embedded broker: the
// restarted broker knows no producer state and takes the first batch it
// gets with any sequence number; a later batch of a partition got there
// first, the earlier one was then refused (OUT_OF_ORDER_SEQUENCE_NUMBER)
// and written again by the replay after it (17 keys, seq 51 after 54).
// Transactional producers are idempotent (Kafka requires it): a failed
// write aborts the transaction, and what it wrote is never read.
func kgoProducerOpts(cfg *sarama.Config, hasher func() hash.Hash32, transactional bool) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.RecordPartitioner(newGokaPartitioner(hasher)),
		kgo.ProducerLinger(cfg.Producer.Flush.Frequency),
		kgo.ProducerBatchMaxBytes(int32(cfg.Producer.MaxMessageBytes + batchOverhead)),
		kgo.RecordDeliveryTimeout(deliveryTimeout(cfg)),
		kgo.ProduceRequestTimeout(cfg.Producer.Timeout),
	}
	if !transactional {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(1))
	}
	switch cfg.Producer.Compression {
	case sarama.CompressionNone:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case sarama.CompressionGZIP:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case sarama.CompressionLZ4:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case sarama.CompressionZSTD:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	}
	switch {
	case transactional || cfg.Producer.RequiredAcks == sarama.WaitForAll:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case cfg.Producer.RequiredAcks == sarama.NoResponse:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	}
	if len(cfg.Producer.Interceptors) > 0 {
		opts = append(opts, kgo.WithHooks(interceptors(cfg.Producer.Interceptors)))
	}
	return opts
}

// interceptors runs sarama's Producer.Interceptors on every record a
// franz-go producer sends, as sarama's producer ran them on its messages
// (KIP-42): each OnSend sees the record as a sarama.ProducerMessage, its
// Timestamp the time it was produced, and may change its Timestamp and
// Headers, which are sent. Its Topic, Key and Value are sluice's (the
// partition, the size check and the table's changelog offsets follow
// from them): changes to them are not sent. A panicking OnSend is
// ignored, as sarama ignores it. Unlike sarama, franz-go times a write out
// from its timestamp ([deliveryTimeout]): a record dated back further than
// Producer.Timeout fails before it is sent.
type interceptors []sarama.ProducerInterceptor

// OnProduceRecordBuffered implements kgo.HookProduceRecordBuffered: franz-go
// calls it before the record is partitioned and batched.
func (is interceptors) OnProduceRecordBuffered(r *kgo.Record) {
	m := &sarama.ProducerMessage{Topic: r.Topic, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value), Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	for _, i := range is {
		onSend(i, m)
	}
	if !m.Timestamp.IsZero() {
		r.Timestamp = m.Timestamp.Truncate(time.Millisecond)
	}
	r.Headers = r.Headers[:0]
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
	}
}

// onSend calls i.OnSend(m), recovering from a panic as sarama does.
func onSend(i sarama.ProducerInterceptor, m *sarama.ProducerMessage) {
	defer func() { _ = recover() }()
	i.OnSend(m)
}

// kgoGroupOpts returns the consumer-group options of cfg for group: session,
// heartbeat and rebalance timing, where a new group starts, fetch sizes and
// waits, and the isolation level. Partitions are balanced by ranges, which
// assigns the same partitions of every input topic to a member, as goka's
// copartitioning strategy does (goka refuses an assignment that differs).
func kgoGroupOpts(cfg *sarama.Config, group string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(cfg.Consumer.Group.Session.Timeout),
		kgo.HeartbeatInterval(cfg.Consumer.Group.Heartbeat.Interval),
		kgo.RebalanceTimeout(cfg.Consumer.Group.Rebalance.Timeout),
		kgo.FetchMaxWait(max(cfg.Consumer.MaxWaitTime, time.Millisecond)),
		kgo.FetchMaxPartitionBytes(cfg.Consumer.Fetch.Default),
		// Offsets are committed by the group (see [kgroup]), in order.
		kgo.DisableAutoCommit(),
		// Rebalance callbacks run only between polls: records a poll
		// returned reach the session they were fetched in, never the next.
		kgo.BlockRebalanceOnPoll(),
	}
	if cfg.Consumer.Offsets.Initial == sarama.OffsetNewest {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	if cfg.Consumer.IsolationLevel == sarama.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return opts
}

// gokaPartitioner partitions records as goka's sarama producer does with
// sarama.NewCustomHashPartitioner(hasher): abs(int32(hash(key))) % n. With
// sluice's [Hasher] that is Kafka's murmur2 partition ([Partition]).
type gokaPartitioner struct {
	hasher  func() hash.Hash32
	murmur2 bool // hasher is sluice's Hasher: no hasher per record
}

func newGokaPartitioner(hasher func() hash.Hash32) gokaPartitioner {
	_, ok := hasher().(*murmur2)
	return gokaPartitioner{hasher: hasher, murmur2: ok}
}

func (p gokaPartitioner) ForTopic(string) kgo.TopicPartitioner { return p }

func (p gokaPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p gokaPartitioner) Partition(r *kgo.Record, n int) int {
	if p.murmur2 {
		return int(Partition(r.Key, int32(n)))
	}
	h := p.hasher()
	h.Write(r.Key)
	part := int32(h.Sum32()) % int32(n)
	if part < 0 {
		part = -part
	}
	return int(part)
}
