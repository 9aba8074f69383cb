package gokax

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrNoTopic is the error of a processor or view whose topic does not exist:
// sluice provisions every topic before it starts them, and never lets goka
// create one.
var ErrNoTopic = errors.New("gokax: topic does not exist")

// topicManager is the goka.TopicManager of sluice's processors and views,
// on a franz-go client of its own: it reads topics' partitions and offsets
// and checks that topics exist; it never creates one. It replaces goka's
// (goka.NewTopicManager with NoCreate), which leaked its sarama client when
// its first broker check failed, and on every check asked the broker for
// the topic's configuration and replicas to compare them, with mismatches
// set to be ignored; and then sluice's on a sarama client, which could open
// a broker from inside GetOffset that a concurrent failed metadata refresh
// was dropping, and that its Close then never closed. franz-go's Close is
// synchronous: nothing of the manager outlives it.
//
// Each call is bounded by [requestWait] (franz-go retries against brokers
// that are away until then), and ends at once when the manager closes.
type topicManager struct {
	cl        *kgo.Client
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// requestWait bounds a topic manager's call, and a table consumer's
// metadata request.
const requestWait = 10 * time.Second

func newTopicManager(brokers []string, cfg *sarama.Config) (goka.TopicManager, error) {
	opts, err := kgoCommonOpts(brokers, cfg, cfg.ClientID)
	if err != nil {
		return nil, fmt.Errorf("gokax: topic manager: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("gokax: topic manager: %w", err)
	}
	m := &topicManager{cl: cl}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

func (m *topicManager) EnsureTableExists(topic string, _ int) error { return m.exists(topic) }

func (m *topicManager) EnsureStreamExists(topic string, _ int) error { return m.exists(topic) }

func (m *topicManager) EnsureTopicExists(topic string, _, _ int, _ map[string]string) error {
	return m.exists(topic)
}

func (m *topicManager) exists(topic string) error {
	_, err := m.Partitions(topic)
	return err
}

// Partitions returns every partition of topic, from fresh metadata.
//
// A topic just created is unknown for a moment to the brokers whose
// metadata has not caught up with the controller (Apache Kafka with several
// brokers: a view started right after Provision failed so), so a missing
// topic is asked for again for up to topicWait.
func (m *topicManager) Partitions(topic string) ([]int32, error) {
	deadline := time.Now().Add(topicWait)
	for {
		ctx, cancel := context.WithTimeout(m.ctx, requestWait)
		parts, err := partitions(ctx, m.cl, topic)
		cancel()
		if !errors.Is(err, ErrNoTopic) || time.Now().After(deadline) {
			return parts, err
		}
		select {
		case <-time.After(topicRetry):
		case <-m.ctx.Done():
			return nil, fmt.Errorf("gokax: partitions of %q: topic manager closed", topic)
		}
	}
}

// topicWait bounds how long Partitions asks for a topic the metadata lacks;
// topicRetry is the wait between two asks.
const (
	topicWait  = 10 * time.Second
	topicRetry = 200 * time.Millisecond
)

// metadata returns the partitions of topics (nil: every topic) by topic.
// It never asks a broker to create a topic. A topic the broker does not
// know is missing from the result.
func metadata(ctx context.Context, cl *kgo.Client, topics []string) (map[string][]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("gokax: metadata: %w", err)
	}
	out := make(map[string][]int32, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("gokax: metadata of %q: %w", *t.Topic, err)
		}
		parts := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			parts = append(parts, p.Partition)
		}
		slices.Sort(parts)
		out[*t.Topic] = parts
	}
	return out, nil
}

// partitions returns the partitions of topic, ErrNoTopic if the broker does
// not know it.
func partitions(ctx context.Context, cl *kgo.Client, topic string) ([]int32, error) {
	m, err := metadata(ctx, cl, []string{topic})
	if err != nil {
		return nil, fmt.Errorf("gokax: partitions of %q: %w", topic, err)
	}
	parts, ok := m[topic]
	if !ok {
		return nil, fmt.Errorf("%q: %w", topic, ErrNoTopic)
	}
	return parts, nil
}

// GetOffset returns the offset of topic/partition at time: the first
// offset (sarama.OffsetOldest), the high watermark (sarama.OffsetNewest,
// read uncommitted as sarama's client asked: in exactly-once mode the
// table consumer delivers the last marker, see [kconsumer]) or the first
// offset at or after a timestamp in milliseconds.
func (m *topicManager) GetOffset(topic string, partition int32, time int64) (int64, error) {
	ctx, cancel := context.WithTimeout(m.ctx, requestWait)
	defer cancel()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = time
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, m.cl) // franz-go sends it to the leader
	if err != nil {
		return -1, fmt.Errorf("gokax: offset of %s/%d: %w", topic, partition, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic != topic || p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return -1, fmt.Errorf("gokax: offset of %s/%d: %w", topic, partition, err)
			}
			return p.Offset, nil
		}
	}
	return -1, fmt.Errorf("gokax: offset of %s/%d: %w", topic, partition, sarama.ErrIncompleteResponse)
}

// Close closes the manager's client, ending the calls in flight. Closing
// again does nothing.
func (m *topicManager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		m.cl.Close()
	})
	return nil
}
