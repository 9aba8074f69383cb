package topology

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/connect"
)

// ErrTooLarge is the reason a record goes to the dead-letter topic when its
// handler emitted a record, or set a state value, larger than the producer
// may send (Producer.MaxMessageBytes of [KafkaConfig], which sluice keeps within
// every topic's max.message.bytes). Sending it would fail for good and the
// agent would crash-loop on the record. It wraps [ErrPermanent].
var ErrTooLarge = fmt.Errorf("topology: record too large: %w", ErrPermanent)

// batchOverhead is the header of a Kafka record batch (v2), the bytes a
// broker's max.message.bytes counts beyond the batch's records.
const batchOverhead = 61

// recordSize is an upper bound of a record's encoded size in a record
// batch (counted as sarama's ProducerMessage.ByteSize counts it), so a
// record within Producer.MaxMessageBytes always fits a batch of
// MaxMessageBytes + batchOverhead, the largest the producer builds and the
// broker accepts.
func recordSize(key string, value []byte, headers map[string][]byte) int {
	n := 5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 1 + len(key) + len(value)
	for k, v := range headers {
		n += len(k) + len(v) + 2*binary.MaxVarintLen32
	}
	return n
}

// checkSize returns an [ErrTooLarge] error naming topic and the sizes if a
// record of size bytes (see recordSize) is above rt.maxRecord, the
// producer's Producer.MaxMessageBytes as fitted to the agent's topics
// (0: no limit).
func (rt *agentRuntime) checkSize(topic string, size int) error {
	if rt.maxRecord <= 0 || size <= rt.maxRecord {
		return nil
	}
	return fmt.Errorf("agent %q: record for %q is %d bytes, over the %d bytes a record may have (Producer.MaxMessageBytes, max.message.bytes less %d): %w",
		rt.name, topic, size, rt.maxRecord, batchOverhead, ErrTooLarge)
}

// withMaxMessageBytes sets max.message.bytes in the configs of a topic
// about to be created, so that every batch the producer builds, at most
// Producer.MaxMessageBytes of records, fits.
func withMaxMessageBytes(cfg map[string]*string, kafka *sarama.Config) map[string]*string {
	cfg["max.message.bytes"] = kadm.StringPtr(strconv.Itoa(kafka.Producer.MaxMessageBytes + batchOverhead))
	return cfg
}

// fitMaxMessageBytes lowers kafka.Producer.MaxMessageBytes to fit the
// smallest max.message.bytes of topics, so that a batch a processor's
// producer builds (franz-go's, whose batch limit is MaxMessageBytes +
// batchOverhead) never exceeds what a topic accepts (the broker would refuse it for good, and the
// agent crash-loop on it) and records too large for that are dead-lettered
// instead. It reports the topic that set the limit, "" if none lowered it.
func fitMaxMessageBytes(ctx context.Context, adm *kadm.Client, topics []string, kafka *sarama.Config) (string, error) {
	rcs, err := describeConfigs(ctx, adm, topics...)
	if err != nil {
		return "", fmt.Errorf("describe topic configs: %w", configsDenied(ctx, adm, err, topics))
	}
	lowest := ""
	for _, rc := range rcs {
		if rc.Err != nil {
			return "", fmt.Errorf("describe topic %q: %w", rc.Name, describeDenied(rc.Err, rc.Name))
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			n, err := strconv.Atoi(*c.Value)
			if err != nil || n-batchOverhead < 1 {
				return "", fmt.Errorf("topic %q: max.message.bytes=%q is not a usable size", rc.Name, *c.Value)
			}
			if n-batchOverhead < kafka.Producer.MaxMessageBytes {
				kafka.Producer.MaxMessageBytes = n - batchOverhead
				lowest = rc.Name
			}
		}
	}
	return lowest, nil
}

// checkSizes returns an [ErrTooLarge] error if the buffered state value or
// an emit is larger than may be produced; commit then writes nothing.
func (c *Context[S]) checkSizes() error {
	if c.stateOp == stateSet {
		if err := c.agent.checkSize(c.agent.table, recordSize(c.Key(), c.stateBytes, nil)); err != nil {
			return err
		}
	}
	for _, e := range c.emits {
		if err := c.agent.checkSize(e.topic, recordSize(e.key, e.value, withTrace(e.headers, c.trace))); err != nil {
			return err
		}
	}
	return nil
}

// sizeCheckTimeout bounds how long fitSizes waits for the broker.
const sizeCheckTimeout = 3 * time.Second

// fitSizes re-reads the max.message.bytes of every topic the agent writes
// before each run of its processor: a topic changed since provisioning
// makes the broker refuse a batch for good (MESSAGE_TOO_LARGE), and goka's
// processor stops on it. It returns the producer configuration to run with,
// kafka or a clone with a lower Producer.MaxMessageBytes, and sets
// rt.maxRecord to match, so that after such a failure the record is
// dead-lettered when it is read again rather than failing the agent every
// time. If the broker cannot tell (it is away), the last limit stays.
func (rt *agentRuntime) fitSizes(ctx context.Context, a agentSpec, brokers []string, kafka *sarama.Config) *sarama.Config {
	topics := []string{a.dlq.name}
	for _, o := range a.outputs {
		topics = append(topics, o.name)
	}
	if a.state != nil {
		topics = append(topics, a.state.name)
	}
	if a.loop != nil {
		topics = append(topics, a.loop.name)
	}
	if a.timers != nil {
		topics = append(topics, a.timers.name)
	}
	cfg := *kafka
	cl, err := connect.NewClient(brokers, kafka)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, sizeCheckTimeout)
		var lowest string
		lowest, err = fitMaxMessageBytes(ctx, kadm.NewClient(cl), topics, &cfg)
		cancel()
		cl.Close()
		if err == nil && lowest != "" && cfg.Producer.MaxMessageBytes != rt.maxRecord {
			rt.log.Warn("a topic accepts smaller records than the producer would send: records above its limit go to the dead-letter topic",
				"topic", lowest, "max_record_bytes", cfg.Producer.MaxMessageBytes)
		}
	}
	if err != nil {
		rt.log.Debug("could not re-read max.message.bytes; keeping the last record size limit", "error", err)
		cfg.Producer.MaxMessageBytes = min(cfg.Producer.MaxMessageBytes, rt.maxRecord)
	}
	rt.maxRecord = cfg.Producer.MaxMessageBytes
	return &cfg
}
