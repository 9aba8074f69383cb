package kafkatest

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkareal"
)

// Broker is the Kafka a conformance test runs on: the embedded broker, new
// for the test, or Apache Kafka, a 3-node cluster the test package shares
// (see [EachBroker]).
type Broker struct {
	kind     string
	addrs    []string
	embedded *broker.Broker
	kafka    *kafkareal.Cluster
	prefix   string
}

// Kinds of [Broker].
const (
	Embedded = "embedded"
	Kafka    = "kafka"
)

// String returns the broker's kind: [Embedded] or [Kafka].
func (b *Broker) String() string { return b.kind }

// Addrs returns the seed brokers.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Nodes returns the number of brokers of the cluster.
func (b *Broker) Nodes() int {
	if b.kafka != nil {
		return len(b.kafka.Nodes())
	}
	return 1
}

// Embedded returns the embedded broker, nil on Kafka.
func (b *Broker) Embedded() *broker.Broker { return b.embedded }

// Kafka returns the Apache Kafka cluster, nil on the embedded broker.
func (b *Broker) Kafka() *kafkareal.Cluster { return b.kafka }

// Name returns name made unique to the test on a shared cluster: every
// topic, agent (consumer group) and transactional id a conformance test
// creates must go through it. On the embedded broker, new for each test, it
// returns name as is.
func (b *Broker) Name(name string) string { return b.prefix + name }

// KafkaConfig is the shape of the Apache Kafka cluster of [EachBroker]:
// three nodes, so that topics get replication 3 and min.insync.replicas=2,
// and a SASL_SSL listener besides the PLAINTEXT one, with certificates made
// by the harness and the SCRAM user [SCRAMUser] (both mechanisms).
var KafkaConfig = kafkareal.Config{Nodes: 3, Secure: &kafkareal.Listener{Plain: map[string]string{SCRAMUser: SCRAMPassword}}}

// The user of the SASL_SSL listener of [KafkaConfig], for PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512.
const (
	SCRAMUser     = "sluice"
	SCRAMPassword = "sluice-secret"
)

// testSeq numbers the tests that share a cluster, for [Broker.Name].
var testSeq atomic.Int64

var scramOnce sync.Once

// SharedKafka returns the test package's Apache Kafka cluster of
// [KafkaConfig], started on first use, with its SCRAM user. It skips t where
// Kafka cannot run, and fails it there where CI runs (see
// [kafkareal.Shared]); the package's TestMain must use [kafkareal.Main].
func SharedKafka(t testing.TB) *kafkareal.Cluster {
	t.Helper()
	c := kafkareal.Shared(t, KafkaConfig)
	var err error
	scramOnce.Do(func() {
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			if err = c.AddSCRAM(context.Background(), m, SCRAMUser, SCRAMPassword); err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatalf("SCRAM user: %v", err)
	}
	return c
}

// OnKafka returns a [Broker] on the package's shared Apache Kafka cluster
// (see [SharedKafka]) with names of the test's own.
func OnKafka(t testing.TB) *Broker {
	t.Helper()
	c := SharedKafka(t)
	return &Broker{kind: Kafka, addrs: c.Addrs(), kafka: c, prefix: "t" + strconv.FormatInt(testSeq.Add(1), 10) + "-"}
}

// OnEmbedded returns a [Broker] on a new embedded broker (see [Start]).
func OnEmbedded(t testing.TB, opts ...broker.Option) *Broker {
	t.Helper()
	b := Start(t, opts...)
	return &Broker{kind: Embedded, addrs: b.Addrs(), embedded: b}
}

// EachBroker runs fn as a subtest on each broker sluice promises the same
// behaviour on: "embedded", a new embedded broker, and "kafka", Apache Kafka
// (kafkareal.Version) on the package's 3-node cluster. Where Java or Maven
// is missing the kafka subtest is skipped with what to install, and fails
// where CI runs (ci.Strict).
func EachBroker(t *testing.T, fn func(t *testing.T, b *Broker)) {
	t.Helper()
	t.Run(Embedded, func(t *testing.T) { fn(t, OnEmbedded(t)) })
	t.Run(Kafka, func(t *testing.T) { fn(t, OnKafka(t)) })
}
