package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/soak"
)

// agentCommand returns the agent command: one instance of a soak agent.
func agentCommand() *cobra.Command {
	var (
		f        commonFlags
		name     string
		instance string
		brokers  []string
		dataDir  string
		rebal    time.Duration
	)
	c := &cobra.Command{
		Use:   "agent",
		Short: "Run one instance of a soak agent until SIGINT or SIGTERM",
		Long: `Agent runs one instance of the soak agent --name (first or second) against
--brokers, with its tables in --data-dir, restarting it when it fails, until
SIGINT or SIGTERM; then it commits what it processed and exits 0. It logs
"agent running" with its partitions after each rebalance.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !slices.Contains(soak.Agents(), name) {
				return fmt.Errorf("--name %q: want one of %q", name, soak.Agents())
			}
			if err := needBrokers(brokers); err != nil {
				return err
			}
			if dataDir == "" {
				return fmt.Errorf("--data-dir is required: each instance needs a directory of its own")
			}
			log, err := f.logger(c)
			if err != nil {
				return err
			}
			sec, err := f.sec.Security()
			if err != nil {
				return err
			}
			err = soak.RunAgent(c.Context(), soak.AgentConfig{Name: name, Instance: instance, Brokers: brokers, Namespace: f.namespace, Security: sec,
				DataDir: dataDir, Mode: f.mode(), Logger: log, RebalanceTimeout: rebal})
			if err != nil {
				return cli.Failure(err)
			}
			log.Info("stopped", "agent", name)
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVar(&name, "name", "", "agent to run: first or second")
	fs.StringVar(&instance, "instance", "", "name of this instance, added to the events it forwards (for diagnosis)")
	fs.StringSliceVar(&brokers, "brokers", nil, "seed brokers, as `host:port,...`")
	fs.StringVar(&dataDir, "data-dir", "", "directory of this instance's tables")
	fs.DurationVar(&rebal, "rebalance-timeout", 0, "consumer group rebalance timeout, overriding sluice's (20s), for diagnosis")
	f.add(c)
	return c
}
