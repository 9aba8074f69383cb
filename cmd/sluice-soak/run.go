package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/soak"
)

// runCommand returns the run command: the whole soak.
func runCommand() *cobra.Command {
	var (
		f     commonFlags
		cfg   soak.Config
		dir   string
		keep  bool
		kafka string
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the soak: processes, faults, catch-up, verifier",
		Long: `Run starts a broker process and two instances of each soak agent (this binary's
broker and agent commands), sends --records records over --keys keys, and during
the run kills and restarts agent instances (--kills), kills and restarts the
broker on the same data dir and port (--broker-bounces), and adds or stops
instances (--rebalances), in a random order (--seed).

With --kafka real it starts a 3-node Apache Kafka cluster instead (KRaft, in
DIR/kafka; Java 17, and Maven for the first download), where --broker-bounces
SIGKILLs the leader of a partition the chain writes, --rolling-restarts
restarts the three brokers in turn, and --outages keeps a broker down 15 s,
longer than the agents' session timeout. With --brokers it runs on a cluster
of yours, with agent faults only: it cannot restart your brokers. Fault i strikes when
(i+1)/(faults+1) of the records are acknowledged; the generator's rate spreads
the records over --interval per fault. When the output has caught up (or a
minute before --duration-cap) it stops the agents and verifies.

It prints the verifier's details and, last, one machine-readable line:
records=N lost=N reordered=N duplicates=N table_mismatches=N table_overcounts=N
kills=N broker_bounces=N rebalances=N mode=MODE elapsed=D
and exits 1 if the run broke the mode's promise: anything lost or reordered, a
table entry off (at-least-once: its last sequence number, or a count below the
input's), or, in exactly-once mode, a duplicate or any table difference.`,
		Example: "  sluice-soak run --records 200000 --keys 100 --duration-cap 10m\n  sluice-soak run --records 20000 --kills 3 --broker-bounces 2 --rebalances 2 --interval 4s",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if cfg.Records < 1 || cfg.Keys < 1 {
				return fmt.Errorf("--records %d and --keys %d: want at least 1 each", cfg.Records, cfg.Keys)
			}
			if cfg.Kills < 0 || cfg.BrokerBounces < 0 || cfg.Rebalances < 0 || cfg.RollingRestarts < 0 || cfg.Outages < 0 {
				return errors.New("--kills, --broker-bounces, --rebalances, --rolling-restarts and --outages: want 0 or more")
			}
			switch {
			case kafka != "embedded" && kafka != "real":
				return fmt.Errorf("--kafka %q: want embedded or real", kafka)
			case len(cfg.Brokers) > 0 && c.Flags().Changed("kafka"):
				return errors.New("--brokers and --kafka: give one; --brokers runs on your cluster")
			case len(cfg.Brokers) > 0 && cfg.BrokerBounces+cfg.RollingRestarts+cfg.Outages > 0:
				return errors.New("--brokers: the soak cannot restart your brokers: use --broker-bounces 0 --rolling-restarts 0 --outages 0, or --kafka real")
			}
			cfg.RealKafka = kafka == "real"
			var err error
			if cfg.Security, err = f.sec.Security(); err != nil {
				return err
			}
			cfg.Namespace = f.namespace
			if cfg.DurationCap <= 2*time.Minute {
				return fmt.Errorf("--duration-cap %v: want more than 2m (a minute is kept for verifying)", cfg.DurationCap)
			}
			if cfg.Interval <= 0 || cfg.Rate < 0 {
				return errors.New("--interval: want above 0; --rate: want 0 (from --interval) or more")
			}
			log, err := f.logger(c)
			if err != nil {
				return err
			}
			cfg.Mode = f.mode()
			cfg.Logger = log
			cfg.Out = c.OutOrStdout()
			cfg.Dir = dir
			if dir == "" {
				if cfg.Dir, err = os.MkdirTemp("", "sluice-soak-"); err != nil {
					return cli.Failure(err)
				}
			}
			rep, err := soak.Run(c.Context(), cfg)
			if err == nil && dir == "" && !keep && !rep.Failed() {
				os.RemoveAll(cfg.Dir)
			} else {
				log.Info("work directory kept", "dir", cfg.Dir)
			}
			if err != nil {
				if rep.Counts.Sent > 0 {
					fmt.Fprintln(c.OutOrStdout(), rep)
				}
				return cli.Failure(err)
			}
			fmt.Fprintln(c.OutOrStdout(), rep)
			if rep.Failed() {
				return cli.Failure(fmt.Errorf("the soak broke %s's promise: see the lines above and the logs in %s/logs", rep.Mode, cfg.Dir))
			}
			return nil
		},
	}
	fs := c.Flags()
	fs.IntVar(&cfg.Records, "records", 200000, "records to send")
	fs.IntVar(&cfg.Keys, "keys", 100, "keys the records are spread over")
	fs.IntVar(&cfg.Kills, "kills", 5, "agent instances to kill with SIGKILL and restart")
	fs.IntVar(&cfg.BrokerBounces, "broker-bounces", 2, "times to kill the broker with SIGKILL and restart it")
	fs.IntVar(&cfg.Rebalances, "rebalances", 4, "agent instances to add or stop gracefully")
	fs.IntVar(&cfg.RollingRestarts, "rolling-restarts", 0, "graceful restarts of every broker in turn")
	fs.IntVar(&cfg.Outages, "outages", 0, "brokers to kill and keep down 15 s, longer than the session timeout, before restarting them")
	fs.StringVar(&kafka, "kafka", "embedded", "the cluster to run on: embedded (sluice's broker, a process) or real (3-node Apache Kafka)")
	fs.StringSliceVar(&cfg.Brokers, "brokers", nil, "run on this cluster of yours instead, as `host:port,...` (agent faults only)")
	fs.DurationVar(&cfg.Interval, "interval", 10*time.Second, "time between faults the generator's rate is set for")
	fs.Float64Var(&cfg.Rate, "rate", 0, "records a second (default: from --interval)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the fault schedule (default random, logged)")
	fs.DurationVar(&cfg.DurationCap, "duration-cap", 10*time.Minute, "bound on the whole run")
	fs.StringVar(&dir, "dir", "", "work directory: data, tables, logs/ (default a temporary one, removed after a clean run)")
	fs.BoolVar(&keep, "keep", false, "keep the temporary work directory")
	fs.StringArrayVar(&cfg.AgentArgs, "agent-arg", nil, "argument added to every agent's command line, for diagnosis (repeatable), e.g. --agent-arg=--rebalance-timeout=10s")
	f.add(c)
	return c
}
