package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/topology"
)

// runCommand returns the run command, which runs g's agents with topology.Run.
func runCommand(g *topology.Graph) *cobra.Command {
	var (
		agents      []string
		exactlyOnce bool
		bf          brokerFlags
		obs         Observe
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the topology's agents until SIGINT or SIGTERM",
		Long: `Run creates the topology's missing topics and runs its agents (all of them, or
those named by --agents) until SIGINT or SIGTERM, restarting an agent that fails.
Instances of the same agent in other processes share its partitions.

Without --brokers, run starts an embedded Kafka-protocol broker listening on
--listen, with its log in DIR/broker, and logs its address (addr=HOST:PORT):
produce to the topology's sources and read its sinks there with any Kafka
client. Agent tables live in DIR/state/AGENT and are rebuilt from their
changelogs if deleted.

With --http (default ` + defaultHTTP + `), run serves a live page of the topology
at http://ADDR/ (the graph with each agent's throughput, lag and dead letters,
and a table lookup), the JSON it polls under /api/, and Prometheus metrics on
/metrics; --http "" turns it off. If the default address is taken (another
run on this machine), run serves on a free port instead and logs it; an
address given with --http or SLUICE_HTTP that is taken stops run (status 1).

Agents run at-least-once: a crash or a rebalance replays the records since the
last committed offset, so outputs may be duplicated and state updated twice.
With --exactly-once they run in exactly-once mode with Kafka transactions: each
input record's outputs, state change and offset commit together, and
downstream consumers reading with isolation.level=read_committed see each
output once (see topology.ExactlyOnce for what it covers and costs). Every
instance of an agent must run in the same mode.

On SIGINT or SIGTERM run stops taking records, finishes and commits those in
flight, closes the tables and the embedded broker, and exits 0.`,
	}
	fs := c.Flags()
	fs.StringSliceVar(&agents, "agents", nil, "agents to run, as `name,...` (default all; 'describe' lists them)")
	fs.BoolVar(&exactlyOnce, "exactly-once", false,
		"run the agents in exactly-once mode with Kafka transactions (default at-least-once)")
	bf.add(fs, true /* withCluster */)
	obs.AddFlags(c)
	return leaf(c, func(c *cobra.Command) error {
		if err := g.Validate(); err != nil {
			return invalidGraph(err)
		}
		if err := checkAgents(g, agents); err != nil {
			return err
		}
		embedded, err := bf.embedded()
		if err != nil {
			return err
		}
		log := newLogger(c.ErrOrStderr(), level(bf.logLevel))
		opts := []topology.Option{
			topology.Agents(agents...),
			topology.DataDir(bf.dataDir),
			topology.Replication(int(bf.replication)),
			topology.WithLogger(log),
			topology.OnAssign(func(agent string, partitions []int32) {
				log.Info("agent running", "agent", agent, "partitions", partitions)
			}),
		}
		if exactlyOnce {
			opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
		}
		var cluster []topology.Option
		if embedded {
			// Run logs the embedded broker's address (addr=HOST:PORT) itself.
			opts = append(opts, topology.EmbeddedListen(string(bf.listen)))
		} else {
			if cluster, err = bf.cluster(); err != nil {
				return err
			}
			opts = append(opts, cluster...)
			obs.Connect(cluster...)
		}
		if fn, ok := c.Context().Value(runOptionsKey{}).(func(cluster []topology.Option) []topology.Option); ok {
			opts = append(opts, fn(cluster)...)
		}
		run := agents
		if len(run) == 0 {
			run = agentNames(g)
		}
		more, stop, err := obs.Start(c.Context(), c, g, log)
		if err != nil {
			return err
		}
		opts = append(opts, more...)
		log.Info("starting", "topology", g.Name, "agents", run, "data_dir", bf.dataDir, "exactly_once", exactlyOnce)
		err = topology.Run(c.Context(), g, opts...)
		stop()
		if err != nil {
			return err
		}
		log.Info("stopped", "topology", g.Name)
		return nil
	})
}

// agentNames returns the names of g's agents in declaration order.
func agentNames(g *topology.Graph) []string {
	var names []string
	for _, a := range g.Description().Agents {
		names = append(names, a.Name)
	}
	return names
}

// checkAgents returns a usage error wrapping [topology.ErrUnknownAgent] for the
// first of names that g does not have. topology.Run checks the same, but this
// message says what to do about it.
func checkAgents(g *topology.Graph, names []string) error {
	known := agentNames(g)
	for _, n := range names {
		if !slices.Contains(known, n) {
			return &usageError{err: &hint{
				msg: fmt.Sprintf("unknown agent %q (the graph has %q): use --agents with names from 'describe'", n, known),
				err: topology.ErrUnknownAgent,
			}}
		}
	}
	return nil
}

// runOptionsKey is the context key of [WithRunOptions].
type runOptionsKey struct{}

// WithRunOptions returns a copy of ctx that has the run command add the
// options fn returns to those it gives topology.Run: a binary's own
// [topology.OnProvisioned] hook, say, to write what its agents need once the
// topics exist. Set it on the run command's context before it runs (from a
// PreRunE, with c.SetContext). run calls fn once with the options that reach
// the cluster given with --brokers (topology.Brokers and the security
// flags' option), or none for the embedded broker, whose address
// topology.OnProvisioned gives.
func WithRunOptions(ctx context.Context, fn func(cluster []topology.Option) []topology.Option) context.Context {
	return context.WithValue(ctx, runOptionsKey{}, fn)
}
