package topology

import (
	"log/slog"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/connect"
	"github.com/sluicehq/sluice/metrics"
)

// An Option configures [Run], and some also [NewView], [NewEmitter],
// [Provision] and [ClientOptions]. Later options override earlier ones.
//
// Each constructor takes the options that mean something to it and fails
// with [ErrOption] for the others, so that an option cannot be silently
// ignored: the connection ([Brokers], [WithSecurity], [KafkaConfig]) and
// [DataDir] and [WithLogger] go to all of them (one slice of a deployment's
// settings can), [ExactlyOnce], [StateMemory] and [Storage] to Run and
// NewView, and the rest ([Agents], [EmbeddedListen], [Replication], [Retries],
// [RetryBackoff], [RestartBackoff], [OnAssign], [OnProvisioned], [OnReady],
// [Metrics], [Tracing]) to Run only. Provision takes every option Run
// takes (Run's options provision what Run would run) and uses the
// connection and Replication. A value that
// cannot work (a negative count, an empty data dir, a duration that is not
// positive) fails them with ErrOption too, naming the option.
type Option interface{ apply(*runConfig) }

type optionFunc func(*runConfig)

func (f optionFunc) apply(c *runConfig) { f(c) }

type runConfig struct {
	brokers        []string
	listen         string
	dataDir        string
	agents         []string
	logger         *slog.Logger
	retries        int
	retryBackoff   time.Duration
	restartMin     time.Duration
	restartMax     time.Duration
	replication    int
	kafka          *sarama.Config
	security       connect.Security // see WithSecurity
	onAssign       func(agent string, partitions []int32)
	onBroker       func(addrs []string)
	onReady        func()
	storage        storageFunc
	state          stateConfig
	exactlyOnce    bool          // see ExactlyOnce
	instance       string        // exactly-once: this data dir's instance name (instanceName)
	commitInterval time.Duration // exactly-once: see ExactlyOnce
	given          []namedOption // the options, for check
	metrics        *metrics.Registry
	tracer         trace.Tracer
}

func newRunConfig(opts []Option) *runConfig {
	c := &runConfig{
		listen:       "127.0.0.1:9092",
		dataDir:      "sluice-data",
		logger:       slog.New(slog.DiscardHandler),
		retries:      3,
		retryBackoff: 50 * time.Millisecond,
		restartMin:   500 * time.Millisecond,
		restartMax:   10 * time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	if c.kafka == nil {
		c.kafka = DefaultKafkaConfig()
	}
	return c
}

// Brokers sets the seed brokers of a Kafka cluster to run on, overriding the
// default: an embedded broker that Run starts in DataDir, listening on [EmbeddedListen],
// and stops before it returns.
func Brokers(addrs ...string) Option {
	return option("Brokers", forConnection, func(c *runConfig) { c.brokers = slices.Clone(addrs) })
}

// EmbeddedListen sets the address the embedded broker listens on, overriding
// the default 127.0.0.1:9092. Port 0 picks a free port; see [OnProvisioned].
// Ignored with [Brokers], which names a cluster instead of the embedded broker.
func EmbeddedListen(addr string) Option {
	return option("EmbeddedListen", forRun, func(c *runConfig) { c.listen = addr })
}

// DataDir sets the directory for local state, overriding the default "sluice-data"
// in the working directory. Agent tables live in DataDir/state/AGENT and are
// rebuilt from their changelogs if deleted; the embedded broker keeps its log in
// DataDir/broker.
func DataDir(dir string) Option {
	return option("DataDir", forConnection, func(c *runConfig) { c.dataDir = dir })
}

// Agents selects the agents to run by name, overriding the default: all of them.
// Run fails with [ErrUnknownAgent] for a name the graph does not have.
func Agents(names ...string) Option {
	return option("Agents", forRun, func(c *runConfig) { c.agents = slices.Clone(names) })
}

// WithLogger sets the logger, overriding the default that discards everything.
// Run logs start-up, failures and restarts, never one line per record.
func WithLogger(l *slog.Logger) Option {
	return option("WithLogger", forConnection, func(c *runConfig) {
		if l != nil {
			c.logger = l
		}
	})
}

// Retries sets how many times a failed handler call is retried before the record
// goes to the dead-letter topic, overriding the default 3. The wait starts at
// [RetryBackoff] and doubles each time.
func Retries(n int) Option {
	return option("Retries", forRun, func(c *runConfig) { c.retries = n })
}

// RetryBackoff sets the wait before the first retry of a failed handler call,
// overriding the default 50 ms.
func RetryBackoff(d time.Duration) Option {
	return option("RetryBackoff", forRun, func(c *runConfig) { c.retryBackoff = d })
}

// RestartBackoff sets the wait before restarting a failed agent: it starts at min
// and doubles up to max, overriding the defaults 500 ms and 10 s. It resets once the
// agent has run for a minute.
func RestartBackoff(min, max time.Duration) Option {
	return option("RestartBackoff", forRun, func(c *runConfig) { c.restartMin, c.restartMax = min, max })
}

// Replication sets the replication factor of topics Run creates, overriding the
// default min(3, number of brokers). min.insync.replicas is set to
// min(2, replication), so that acks=all means two copies where there can be two.
func Replication(n int) Option {
	return option("Replication", forRun, func(c *runConfig) { c.replication = n })
}

// KafkaConfig sets the configuration, in sarama's struct, that every client
// Run creates (franz-go's, all of them) is built from, overriding sluice's
// defaults: start from [DefaultKafkaConfig] and change what you need (it
// lists the settings each client reads and those a processor overrides).
// cfg is cloned. Its Version must be at least [MinKafkaVersion]
// ([ErrKafkaVersion] otherwise). Its Net.TLS and Net.SASL settings reach
// every client, provisioning and lag included, unless [WithSecurity]
// replaces them.
func KafkaConfig(cfg *sarama.Config) Option {
	return option("KafkaConfig", forConnection, func(c *runConfig) {
		if cfg != nil {
			cc := *cfg
			c.kafka = &cc
		}
	})
}

// OnAssign adds a function called with an agent's partitions on this instance
// after each rebalance. It must not block. Unlike other options, each OnAssign
// adds to those before it: all are called, in order.
func OnAssign(fn func(agent string, partitions []int32)) Option {
	return option("OnAssign", forRun, func(c *runConfig) {
		if prev := c.onAssign; prev != nil && fn != nil {
			c.onAssign = func(agent string, partitions []int32) { prev(agent, partitions); fn(agent, partitions) }
		} else if fn != nil {
			c.onAssign = fn
		}
	})
}

// OnProvisioned adds a function called with the brokers' addresses (the
// embedded broker's, or those of [Brokers]) once Run has provisioned the
// graph's topics, before any agent starts: the moment an emitter feeding the
// graph can start. It must not block for long: the agents wait for it.
// Unlike other options, each OnProvisioned adds to those before it: all are
// called, in order.
func OnProvisioned(fn func(addrs []string)) Option {
	return option("OnProvisioned", forRun, func(c *runConfig) {
		if prev := c.onBroker; prev != nil && fn != nil {
			c.onBroker = func(addrs []string) { prev(addrs); fn(addrs) }
		} else if fn != nil {
			c.onBroker = fn
		}
	})
}
