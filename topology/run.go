package topology

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/internal/broker"
)

// Run validates g, provisions its topics, and runs the selected agents (all by
// default, see [Agents]) until ctx is done or one fails for good. Each agent is a
// goka processor group with its own consumer group, so instances of the same agent
// in other processes share its partitions.
//
// Without [Brokers], Run first starts an embedded broker in DataDir/broker (see
// [EmbeddedListen]) and stops it before it returns.
//
// An agent that fails (the broker went away, a write was refused) is restarted with
// backoff ([RestartBackoff]); Run gives up only on errors that cannot heal: an
// invalid graph, or existing topics that do not match it ([ErrTopicMismatch]). It
// returns nil after a shutdown caused by ctx: intake stops, records in flight
// finish and are committed, and tables are closed. Every goroutine Run started has
// exited when it returns.
func Run(ctx context.Context, g *Graph, opts ...Option) (err error) {
	c := newRunConfig(opts)
	if err := c.check(forRun); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return err
	}
	if err := c.connect(); err != nil {
		return err
	}
	r := g.resolve()
	agents, err := selectAgents(r.agents, c.agents)
	if err != nil {
		return err
	}
	if err := checkExactlyOnce(c, agents); err != nil {
		return err
	}
	logNames(c.logger, g.Application, agents)
	if c.exactlyOnce {
		if c.instance, err = instanceName(c.dataDir); err != nil {
			return err
		}
	}
	if c.onReady != nil {
		names := make([]string, len(agents))
		for i, a := range agents {
			names[i] = a.name
		}
		OnAssign(readyWatch(names, c.onReady)).apply(c)
	}
	stores := 0
	for _, a := range agents {
		if a.state != nil || len(a.lookups)+len(a.joins) > 0 {
			stores++ // one database for all of an agent's tables
		}
	}
	closeMemory, err := c.openStateMemory(stores)
	if err != nil {
		return err
	}
	defer closeMemory()
	brokers := c.brokers
	if len(brokers) == 0 && !c.security.IsZero() {
		return fmt.Errorf("topology: WithSecurity needs Brokers: Run's embedded broker is plaintext (sluice's broker command serves TLS and SASL): %w", ErrSecurity)
	}
	if len(brokers) == 0 {
		b, err := broker.Start(
			broker.DataDir(filepath.Join(c.dataDir, "broker")),
			broker.Listen(c.listen),
			broker.WithLogger(c.logger),
		)
		if err != nil {
			return fmt.Errorf("embedded broker: %w", err)
		}
		defer func() { err = errors.Join(err, b.Close()) }()
		brokers = b.Addrs()
		c.logger.Info("embedded broker listening: any Kafka client can connect to it, kcat for one",
			"addr", brokers[0], "kcat", "kcat -b "+brokers[0]+" -L", "data_dir", filepath.Join(c.dataDir, "broker"))
	}
	if err := provisionUntil(ctx, r, brokers, c); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if c.onBroker != nil {
		c.onBroker(brokers)
	}
	eg, ectx := errgroup.WithContext(ctx)
	for _, a := range agents {
		eg.Go(func() error { return supervise(ectx, a, brokers, c) })
	}
	return eg.Wait()
}

// transient reports whether a provisioning error may heal by itself: anything
// but a topic mismatch, a refused credential or certificate, or a Kafka error
// that Kafka marks non-retriable (a broker that cannot be reached yet is
// retriable).
func transient(err error) bool {
	if errors.Is(err, ErrTopicMismatch) || errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTLS) {
		return false
	}
	var ke *kerr.Error
	return !errors.As(err, &ke) || ke.Retriable
}

// selectAgents returns the agents named, all if names is empty.
func selectAgents(all []agentSpec, names []string) ([]agentSpec, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []agentSpec
	for _, n := range names {
		i := slices.IndexFunc(all, func(a agentSpec) bool { return a.name == n })
		if i < 0 {
			known := make([]string, len(all))
			for j, a := range all {
				known[j] = a.name
			}
			return nil, fmt.Errorf("agent %q (the graph has %q): %w", n, known, ErrUnknownAgent)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// provisionUntil provisions topics, retrying while the cluster cannot be reached:
// agents may start before their broker does. A topic mismatch, or an error Kafka
// says retrying cannot fix (an invalid replication factor, a denied ACL), is final.
func provisionUntil(ctx context.Context, r *resolved, brokers []string, c *runConfig) error {
	wait := c.restartMin
	for {
		_, err := provision(ctx, r, brokers, c)
		err = checkConnection(err)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		c.logger.Warn("provisioning topics failed; retrying", "brokers", brokers, "error", err, "in", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, c.restartMax)
	}
}
