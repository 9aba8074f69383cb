package gokax

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// ErrNoTopic is the error of a processor or view whose topic does not exist:
// sluice provisions every topic before it starts them, and never lets goka
// create one.
var ErrNoTopic = errors.New("gokax: topic does not exist")

// topicManager is the goka.TopicManager of sluice's processors and views:
// it reads topics' partitions and offsets and checks that topics exist; it
// never creates one. It replaces goka's (goka.NewTopicManager with NoCreate),
// which leaked its sarama client when its first broker check failed, and on
// every check asked the broker for the topic's configuration and replicas
// to compare them, with mismatches set to be ignored.
//
// Its calls are serialized: goka asks it from every partition at once, and
// sarama's client, asked concurrently, can open a broker that a failed
// request is dropping from it at the same moment, which nothing closes
// then (see [client]; the internal calls of its GetOffset and
// RefreshMetadata do not go through the client's handing out).
type topicManager struct {
	mu sync.Mutex
	cl *client
}

func newTopicManager(brokers []string, cfg *sarama.Config) (goka.TopicManager, error) {
	cl, err := newClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("gokax: topic manager: %w", err)
	}
	return &topicManager{cl: cl}, nil
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

// Partitions returns every partition of topic, after fresh metadata.
func (m *topicManager) Partitions(topic string) ([]int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// All topics: asking for topic alone would create it on a broker with
	// auto.create.topics.enable.
	// A topic just created is unknown for a moment to the brokers whose
	// metadata has not caught up with the controller (Apache Kafka with
	// several brokers: a view started right after Provision failed so), so
	// a missing topic is asked for again for up to topicWait.
	deadline := time.Now().Add(topicWait)
	for {
		if err := m.cl.RefreshMetadata(); err != nil {
			return nil, fmt.Errorf("gokax: partitions of %q: %w", topic, err)
		}
		topics, err := m.cl.Topics()
		if err != nil {
			return nil, fmt.Errorf("gokax: partitions of %q: %w", topic, err)
		}
		if slices.Contains(topics, topic) {
			return m.cl.Partitions(topic)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%q: %w", topic, ErrNoTopic)
		}
		time.Sleep(topicRetry)
	}
}

// topicWait bounds how long Partitions asks for a topic the metadata lacks;
// topicRetry is the wait between two asks.
const (
	topicWait  = 10 * time.Second
	topicRetry = 200 * time.Millisecond
)

func (m *topicManager) GetOffset(topic string, partition int32, time int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cl.GetOffset(topic, partition, time)
}

func (m *topicManager) Close() error { return m.cl.Close() }
