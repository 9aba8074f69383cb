package topology

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/connect"
	"github.com/sluicehq/sluice/internal/gokax"
)

// Security says how sluice's clients reach a secured cluster, in the terms
// of librdkafka's properties: TLS (with a CA, and a client certificate for
// mutual TLS) and SASL PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Every client
// sluice creates uses it (all franz-go's): processors, lookups, views,
// emitters, provisioning, size checks, lag and the live page. The zero
// value is a plaintext connection without authentication. See
// [WithSecurity].
type Security struct {
	// Protocol is security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or
	// SASL_SSL. "" means PLAINTEXT, SSL when a file or TLS is set, SASL_*
	// when a Mechanism or Username is.
	Protocol string
	// Mechanism is sasl.mechanism: PLAIN (the default with SASL),
	// SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	// Username and Password are sasl.username and sasl.password.
	Username, Password string
	// CAFile is ssl.ca.location: PEM certificates of the authorities that
	// sign the brokers' certificates; "" trusts the system's.
	CAFile string
	// CertFile and KeyFile are ssl.certificate.location and
	// ssl.key.location: the client's certificate and key in PEM, for
	// brokers that require one (mutual TLS).
	CertFile, KeyFile string
	// TLS, if set, replaces the configuration built from the files (for
	// certificates that are not files); it is cloned.
	TLS *tls.Config
}

// WithSecurity sets how every client reaches the cluster of [Brokers],
// overriding the default: plaintext without authentication, or what the Net
// settings of a [KafkaConfig] say. It applies to [Run], [Provision],
// [NewView], [NewEmitter] and [ClientOptions]; Run's embedded broker is
// plaintext, so Run refuses it without Brokers. Files are read when those
// start: a setting that cannot work fails them with [ErrSecurity].
func WithSecurity(s Security) Option {
	return option("WithSecurity", forConnection, func(c *runConfig) { c.security = connect.Security(s) })
}

// Errors of the connection to the cluster, which retrying cannot fix: [Run]
// stops on them instead of retrying, and a command line exits with status 2.
var (
	// ErrSecurity: a [Security] that cannot work (an unknown protocol or
	// mechanism, a missing user name, an unreadable certificate file).
	ErrSecurity = connect.ErrSecurity
	// ErrAuthentication: the cluster refused the SASL user name, password or
	// mechanism.
	ErrAuthentication = connect.ErrAuthentication
	// ErrTLS: a TLS handshake failed: the broker's certificate is not
	// trusted (see Security.CAFile), the broker refused the client's
	// certificate or the lack of one, or the broker does not speak TLS.
	ErrTLS = connect.ErrTLS
	// ErrKafkaVersion: the sarama configuration of [KafkaConfig] has a
	// Version below 2.1.0. Kafka 4 no longer serves the request versions
	// older clients send (KIP-896), so sluice refuses it before it dials.
	ErrKafkaVersion = errors.New("topology: sarama Version below 2.1.0, the oldest protocol Kafka 4 serves (KIP-896)")
	// ErrGroupRefused: the cluster refused an agent's consumer group for
	// a reason only configuration can fix: a session timeout
	// (Consumer.Group.Session.Timeout of [KafkaConfig]) outside the
	// brokers' group.min.session.timeout.ms and
	// group.max.session.timeout.ms (INVALID_SESSION_TIMEOUT), a group
	// name they refuse (INVALID_GROUP_ID), or a group they denied the
	// principal (GROUP_AUTHORIZATION_FAILED, no ACL grants READ on it) at
	// every join for longer than Consumer.Group.Rebalance.Timeout.
	ErrGroupRefused = gokax.ErrGroupRefused
	// ErrNotAuthorized: the cluster's ACLs deny the principal an operation
	// an agent, a view or provisioning needs, and the error says which and
	// the kafka-acls command that grants it: READ on an input or table
	// topic (TOPIC_AUTHORIZATION_FAILED on fetches or offset fetches) or
	// on the consumer group (GROUP_AUTHORIZATION_FAILED, which also wraps
	// ErrGroupRefused), WRITE on an output or changelog topic
	// (TOPIC_AUTHORIZATION_FAILED on writes) or on the exactly-once
	// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), or, when
	// topics are provisioned, DESCRIBE, CREATE or DESCRIBE_CONFIGS on a
	// topic. A running agent or view rides a denial out for
	// Consumer.Group.Rebalance.Timeout (an ACL granted meanwhile heals
	// it) and stops only after; provisioning stops at once.
	ErrNotAuthorized = gokax.ErrNotAuthorized
)

// MinKafkaVersion is the lowest sarama Version [KafkaConfig] accepts.
var MinKafkaVersion = sarama.V2_1_0_0

// connect checks the sarama configuration's Version and applies the
// security setting to it: every client (franz-go's) is built from c.kafka
// and c.brokers afterwards.
func (c *runConfig) connect() error {
	if !c.kafka.Version.IsAtLeast(MinKafkaVersion) {
		return fmt.Errorf("%w: KafkaConfig has Version %s: set it to %s or later (sluice's default is %s)",
			ErrKafkaVersion, c.kafka.Version, MinKafkaVersion, sarama.V2_8_0_0)
	}
	cfg, err := connect.Apply(c.kafka, c.security)
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	c.kafka = cfg
	return nil
}

// ClientOptions returns franz-go options that reach the cluster as sluice's
// own clients do, for a program's tools around a graph (a report, a test
// that reads outputs): the seed brokers of [Brokers], the security of
// [WithSecurity] (or of a [KafkaConfig]'s Net settings), and sluice's client
// id. Add your own options after them:
//
//	opts, err := topology.ClientOptions(topology.Brokers(addrs...), topology.WithSecurity(sec))
//	...
//	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics("out"))...)
//
// It fails with [ErrKafkaVersion] or [ErrSecurity] as [Run] would.
func ClientOptions(opts ...Option) ([]kgo.Opt, error) {
	c := newRunConfig(opts)
	if err := c.check(forClient); err != nil {
		return nil, fmt.Errorf("client options: %w", err)
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	return connect.Opts(c.brokers, c.kafka)
}

// CheckConnection returns err, from a client of [ClientOptions], wrapped
// with [ErrAuthentication] or [ErrTLS] when it is a refused credential or
// certificate, which retrying cannot fix; otherwise err.
func CheckConnection(err error) error { return connect.Check(err) }

func checkConnection(err error) error { return connect.Check(err) }
