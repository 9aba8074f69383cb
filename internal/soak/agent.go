package soak

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// AgentConfig configures [RunAgent].
type AgentConfig struct {
	// Name is the agent to run: [FirstAgent] or [SecondAgent].
	Name string
	// Instance names this instance in the By of the events it forwards;
	// optional.
	Instance string
	Brokers  []string
	// Namespace prefixes every topic and agent name (see [Config]).
	Namespace string
	// Security is how to reach a secured cluster; the zero value is
	// plaintext.
	Security topology.Security
	// DataDir holds the instance's tables; instances must not share one.
	DataDir string
	Mode    Mode
	Logger  *slog.Logger
	// RebalanceTimeout, if set, overrides the consumer group rebalance
	// timeout of sluice's Kafka configuration (topology.DefaultKafkaConfig's, 20 s), for
	// diagnosing group coordination under faults.
	RebalanceTimeout time.Duration
}

// Restart backoff of the soak's agents, below topology's default 500 ms to
// 10 s: a broker bounce fails every agent at once, and the soak measures what
// is lost, not how patiently agents wait.
const (
	restartMin = 200 * time.Millisecond
	restartMax = 2 * time.Second
)

// RunAgent runs one instance of a soak agent with [topology.Run] until ctx is
// done. It logs "agent running" with the instance's partitions after each
// rebalance.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	if !slices.Contains(Agents(), cfg.Name) {
		return fmt.Errorf("soak: unknown agent %q: want one of %q", cfg.Name, Agents())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := cfg.Mode.options()
	log := cfg.Logger
	if cfg.RebalanceTimeout > 0 {
		kc := topology.DefaultKafkaConfig()
		kc.Consumer.Group.Rebalance.Timeout = cfg.RebalanceTimeout
		opts = append(opts, topology.KafkaConfig(kc))
	}
	opts = append(opts,
		topology.Agents(cfg.Namespace+cfg.Name),
		topology.Brokers(cfg.Brokers...),
		topology.WithSecurity(cfg.Security),
		topology.DataDir(cfg.DataDir),
		topology.WithLogger(log),
		topology.RestartBackoff(restartMin, restartMax),
		topology.OnAssign(func(agent string, partitions []int32) {
			log.Info("agent running", "agent", agent, "partitions", partitions)
		}),
	)
	log.Info("starting", "agent", cfg.Name, "mode", cfg.Mode, "brokers", cfg.Brokers, "data_dir", cfg.DataDir)
	return topology.Run(ctx, graph(cfg.Namespace, cfg.Instance), opts...)
}
