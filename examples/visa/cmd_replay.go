package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// replayCommand returns the replay command, which re-runs a time window of
// applications through the current levels in shadow topics and prints how
// their decisions differ from production's.
func replayCommand() *cobra.Command {
	var (
		brokers  []string
		from, to string
		suffix   string
		wait     time.Duration
		dataDir  string
		df       deciderFlags
		sec      cli.SecurityFlags
		secOpt   topology.Option
	)
	c := &cobra.Command{
		Use:   "replay --from TIME --to TIME --shadow SUFFIX",
		Short: "Re-run a time window of applications in shadow topics and diff the decisions with production's",
		Long: `Replay re-runs the applications production received between --from and --to
(by record timestamp on visa-applications-in) through the current levels, with
the decider of --decider, in a shadow run: every topic, level, consumer group,
table and dead-letter topic of the shadow run is named as in production plus the
--shadow suffix, so production's topics and committed offsets stay as they are.

It copies production's routes into the shadow routing table (keeping any route
already written there, to try a change of routes), copies the window's records
to the shadow input with their timestamps, runs the shadow levels until each has
a final decision or a dead letter, and prints every application decided
differently: its ID, production's decision -> the shadow run's, and the reasons
of both. 'visa trace --shadow SUFFIX ID' shows a shadow journey in full.

A second replay under the same suffix goes on where the first stopped.`,
		Example: "  visa replay --brokers 127.0.0.1:9092 --from 2026-03-02T09:00:00Z --to 2026-03-02T10:00:00Z --shadow -v2 --decider llm --llm-model qwen2.5 --llm-base-url http://127.0.0.1:8080/v1",
	}
	fs := c.Flags()
	fs.StringSliceVar(&brokers, "brokers", []string{"127.0.0.1:9092"}, "seed brokers, as `host:port,...`")
	fs.StringVar(&from, "from", "", "start of the window, an RFC 3339 `time` such as 2026-03-02T09:00:00Z (required)")
	fs.StringVar(&to, "to", "", "end of the window (excluded), an RFC 3339 `time` (default: now)")
	fs.StringVar(&suffix, "shadow", "", "`suffix` of every shadow topic and group, such as -v2 (required)")
	fs.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the shadow run's decisions")
	fs.StringVar(&dataDir, "data-dir", "", "the shadow levels' tables go in `DIR` (default: a temporary directory)")
	df.add(fs)
	sec.AddFlags(c)

	var cfg visa.ReplayConfig
	c.RunE = failing(func() (err error) {
		if err := df.applyEnv(fs); err != nil {
			return err
		}
		if secOpt, err = sec.Option(); err != nil {
			return err
		}
		if from == "" || suffix == "" {
			return fmt.Errorf("'%s' needs --from and --shadow", c.CommandPath())
		}
		if cfg.From, err = time.Parse(time.RFC3339, from); err != nil {
			return fmt.Errorf("--from %q: want an RFC 3339 time such as 2026-03-02T09:00:00Z", from)
		}
		cfg.To = time.Now()
		if to != "" {
			if cfg.To, err = time.Parse(time.RFC3339, to); err != nil {
				return fmt.Errorf("--to %q: want an RFC 3339 time such as 2026-03-02T10:00:00Z", to)
			}
		}
		if !cfg.From.Before(cfg.To) {
			return fmt.Errorf("--from %s is not before --to %s", from, cfg.To.Format(time.RFC3339))
		}
		if _, err := visa.ShadowGraph(nil, suffix); err != nil {
			return fmt.Errorf("--shadow: %w", err)
		}
		if cfg.Decider, err = df.decider(); err != nil {
			return err
		}
		cfg.Brokers, cfg.Suffix, cfg.Wait, cfg.DataDir, cfg.Concurrency = brokers, suffix, wait, dataDir, df.conc()
		return nil
	}, func(c *cobra.Command) error {
		log := slog.New(slog.NewTextHandler(c.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		cfg.Options = []topology.Option{topology.WithLogger(log), secOpt}
		fmt.Fprintf(c.OutOrStdout(), "replaying %s to %s from %s into shadow run %q, deciding with %s\n",
			cfg.From.Format(time.RFC3339), cfg.To.Format(time.RFC3339), strings.Join(brokers, ","), suffix, df.describe())
		cfg.Progress = c.ErrOrStderr()
		res, err := visa.Replay(c.Context(), cfg)
		if res != nil {
			if werr := res.WriteDiff(c.OutOrStdout()); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	})
	return c
}
