package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// allConfig is the configuration of the all command.
type allConfig struct {
	gen      genFlags
	g        *visa.Generator
	brokers  []string
	listen   string
	dataDir  string
	routes   []visa.Route
	wait     time.Duration // for outcomes after the last record was sent
	ready    time.Duration // for every agent to start
	logLevel string
	eos      bool // --exactly-once
	sla      string
	review   bool
	stay     bool         // --stay
	desk     visa.Options // from --sla, --review and --review-sla
	sec      cli.SecurityFlags
	secOpt   topology.Option // of sec, with --brokers
	df       deciderFlags
	decider  visa.Decider
	obs      cli.Observe // --http and --trace
}

// allCommand returns the all command: broker, levels and generator in one
// process, with progress and a summary.
func allCommand() *cobra.Command {
	var (
		c   allConfig
		set []string
	)
	cmd := &cobra.Command{
		Use:   "all",
		Short: "Run broker, every level and the generator in one process, then print a summary (the default)",
		Long: `All runs the whole pipeline in this process: the embedded broker (unless
--brokers names a cluster), every level, and the generator. It writes the
default routes (and those of --route) to the routing table, waits for every
level to start, sends the applications, prints progress every second, and once
every application has a final decision or a dead letter prints a summary and
exits 0: applications per visa type and decision, latency per level and end to
end, dead letters, and each level's consumer lag read from the broker (waiting
up to 10 s for the levels to commit their last records). The levels decide by
the rules unless --decider llm asks a model (see 'visa run --help'); with
--concurrency above 1 each level has that many decider calls in flight per
partition. Ctrl-C stops it earlier, cleanly, with the summary so far.

The levels run at-least-once: under a rebalance or a crash a level handles
the records since its last committed offset again, and an application may get
a second final decision. With --exactly-once (the rules decider, or
--concurrency 1) each level handles a record, updates its memory and sends the
document on in one Kafka transaction: every application gets exactly one
final decision, seen by read_committed consumers, each level up to ~100 ms
later than at-least-once.

The desk, an agent keyed by application ID, writes every final decision: an
application waiting at a level longer than its --sla ends as needs_review, "SLA
exceeded at level X" (the level's later answer goes to the case's audit trail,
with no second final decision), and with --review (the default) needs_review
applications wait in the review table for a reviewer, on the live page's review
queue (/review/), escalated after --review-sla. The run ends once every
application has a final decision, a dead letter or a place in the review queue;
--stay keeps it up until Ctrl-C, for reviewing. With --decider llm, a model's
rate limits and timeouts are retried on timers, the partition going on meanwhile.

Levels keep their memory in DIR/state and the broker its log in DIR/broker, so
a second run goes on where the first stopped.`,
		Example: "  visa all --count 2000 --rate 500 --mix tourist=40,business=30,student=20,work=10 --route work=B,E,D",
	}
	fs := cmd.Flags()
	c.gen.add(fs)
	fs.StringSliceVar(&c.brokers, "brokers", nil, "seed brokers of a Kafka cluster, as `host:port,...` (default: an embedded broker)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:9092", "address of the embedded broker (port 0 picks a free one)")
	fs.StringVar(&c.dataDir, "data-dir", "sluice-data/visa", "local state goes in `DIR`")
	fs.StringArrayVar(&set, "route", nil, "a route to write besides the defaults, as `TYPE=LEVEL,...` (such as work=B,E,D)")
	fs.DurationVar(&c.wait, "wait", 2*time.Minute, "how long to wait for outcomes after the last application was sent")
	fs.StringVar(&c.logLevel, "log-level", "warn", "least severe log messages written to stderr (debug, info, warn, error)")
	fs.BoolVar(&c.eos, "exactly-once", false, "run the levels in exactly-once mode with Kafka transactions (default at-least-once)")
	fs.StringVar(&c.sla, "sla", "30s", "how long an application may wait at a level before it ends as needs_review: a `duration` for every level, or LEVEL=DURATION pairs such as A=10s,B=1m (0 for none)")
	fs.BoolVar(&c.review, "review", true, "keep needs_review applications in the review table for a reviewer (the live page's review view) instead of ending them")
	fs.DurationVar(&c.desk.ReviewSLA, "review-sla", 10*time.Minute, "how long a review may wait before it is escalated (0: never)")
	fs.BoolVar(&c.stay, "stay", false, "after the summary, keep running (the live page and its review view up) until Ctrl-C")
	c.df.add(fs)
	c.obs.AddFlags(cmd)
	c.sec.AddFlags(cmd)
	cmd.RunE = failing(func() (err error) {
		if err := c.df.applyEnv(fs); err != nil {
			return err
		}
		if c.secOpt, err = c.sec.Option(); err != nil {
			return err
		}
		if c.secOpt != nil && len(c.brokers) == 0 {
			return fmt.Errorf("the security flags need --brokers: the embedded broker is plaintext")
		}
		if c.decider, err = c.df.decider(); err != nil {
			return err
		}
		if err := c.df.checkExactlyOnce(c.eos); err != nil {
			return err
		}
		if c.desk.SLA, err = visa.ParseSLA(c.sla); err != nil {
			return fmt.Errorf("--sla: %w", err)
		}
		if c.desk.ReviewSLA < 0 {
			return fmt.Errorf("--review-sla %v: want a duration of 0 or more", c.desk.ReviewSLA)
		}
		c.desk.Review = c.review
		c.desk.Concurrency = c.df.conc()
		c.desk.Retry = c.df.kind == "llm" // a model's rate limits and timeouts wait on timers
		if c.g, err = c.gen.generator(); err != nil {
			return err
		}
		c.routes = slices.Clone(visa.DefaultRoutes)
		for _, s := range set {
			r, err := visa.ParseRoute(s)
			if err != nil {
				return fmt.Errorf("--route: %w", err)
			}
			c.routes = append(c.routes, r)
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(c.logLevel)); err != nil {
			return fmt.Errorf("--log-level: want debug, info, warn or error")
		}
		c.ready = 2 * time.Minute
		return nil
	}, func(cmd *cobra.Command) error {
		var l slog.Level
		_ = l.UnmarshalText([]byte(c.logLevel)) // checked above
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: l}))
		return runAll(cmd, c, log)
	})
	return cmd
}

// cluster returns the options that reach the brokers at addrs: the embedded
// broker's, or those of --brokers with the security flags.
func (c allConfig) cluster(addrs []string) []topology.Option {
	return []topology.Option{topology.Brokers(addrs...), c.secOpt}
}

// runAll runs the pipeline until every application c.g sends has an outcome, or
// cmd's context is done, with the live page and tracing of c.obs. It returns
// nil in both cases, and an error if the pipeline fails or outcomes are
// missing c.wait after the last application was sent.
func runAll(cmd *cobra.Command, c allConfig, log *slog.Logger) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	g, err := visa.GraphWith(c.decider, c.desk)
	if err != nil {
		return err
	}
	tally := visa.NewTally()
	var levels []string
	for _, l := range visa.Levels {
		levels = append(levels, l.Name)
	}
	g.Agents = append(g.Agents, tally.Watcher(levels...))
	if c.desk.SLA != nil || c.desk.Review {
		g.Agents = append(g.Agents, tally.DeskWatcher())
	}
	var brokers atomic.Pointer[[]string] // known once the broker is up
	if c.desk.Review {
		c.obs.AddView(visa.ReviewView(func() []string {
			if b := brokers.Load(); b != nil {
				return *b
			}
			return nil
		}, c.secOpt))
	}
	c.obs.Connect(c.secOpt)
	more, stopObs, err := c.obs.Start(ctx, cmd, g, log)
	if err != nil {
		return err
	}
	defer stopObs()

	opts := []topology.Option{topology.DataDir(c.dataDir), topology.WithLogger(log)}
	if c.eos {
		opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
	}
	if len(c.brokers) > 0 {
		opts = append(opts, topology.Brokers(c.brokers...), c.secOpt)
	} else {
		opts = append(opts, topology.EmbeddedListen(c.listen))
	}
	opts = append(opts, more...)
	return cli.Drive(ctx, g, cli.Driver{
		Broker: func(ctx context.Context, addrs []string) error {
			brokers.Store(&addrs)
			fmt.Fprintf(out, "broker %s; data in %s\n", strings.Join(addrs, ","), c.dataDir)
			if u := c.obs.URL(); u != "" {
				fmt.Fprintf(out, "live page %s (metrics on %smetrics)\n", u, u)
				if c.desk.Review {
					fmt.Fprintf(out, "review queue %sreview/\n", u)
				}
			}
			if err := visa.WriteRoutes(ctx, c.routes, c.cluster(addrs)...); err != nil {
				return err
			}
			for _, r := range c.routes {
				fmt.Fprintf(out, "route %s\n", r)
			}
			return nil
		},
		Ready: c.ready,
		Run: func(ctx context.Context, addrs []string) error {
			mode := "at-least-once"
			if c.eos {
				mode = "exactly-once"
			}
			fmt.Fprintf(out, "all %d agents running %s, deciding with %s; sending %s\n", len(g.Agents), mode, c.df.describe(), c.gen.String())
			if c.desk.SLA != nil || c.desk.Review {
				fmt.Fprintf(out, "desk: %s\n", describeDesk(c.desk))
			}
			if err := follow(ctx, c, addrs, tally, out); err != nil || !c.stay || ctx.Err() != nil {
				return err
			}
			fmt.Fprintln(out, "staying up (--stay): Ctrl-C stops")
			<-ctx.Done()
			return nil
		},
	}, opts...)
}

// follow sends the applications, prints progress every second, and prints the
// summary when every application has an outcome, ctx is done, or c.wait has
// passed since the last was sent.
func follow(ctx context.Context, c allConfig, addrs []string, tally *visa.Tally, out io.Writer) error {
	sent := make(chan error, 1)
	go func() {
		sent <- visa.Produce(ctx, c.g, c.gen.count, c.gen.rate, tally.Sent, c.cluster(addrs)...)
	}()
	start := time.Now()
	check := time.NewTicker(50 * time.Millisecond)
	defer check.Stop()
	lastPrint := start
	var expire <-chan time.Time
	summary := func(why string, settle time.Duration) {
		fmt.Fprintf(out, "%s\n", why)
		lag, err := settledLag(ctx, c.cluster(addrs), settle)
		s := tally.Summary() // after the levels settled: late answers included
		s.Lag = lag
		s.WriteTo(out)
		if err != nil {
			fmt.Fprintf(out, "lag unknown: %v\n", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			if sent != nil {
				<-sent
			}
			summary("interrupted; summary so far:", 0)
			return nil
		case err := <-sent:
			sent = nil
			if err != nil {
				return fmt.Errorf("generator: %w", err)
			}
			tally.Seal()
			t := time.NewTimer(c.wait)
			defer t.Stop()
			expire = t.C
		case <-expire:
			s := tally.Summary()
			summary(fmt.Sprintf("gave up waiting %v after the last application was sent", c.wait), 0)
			return fmt.Errorf("%d of %d applications have no final decision or dead letter", s.Missing, s.Sent)
		case now := <-check.C:
			p := tally.Progress()
			if p.Done {
				fmt.Fprintf(out, "%5.1fs  %s\n", now.Sub(start).Seconds(), p)
				summary("every application has an outcome", lagSettle)
				return nil
			}
			if now.Sub(lastPrint) >= time.Second {
				lastPrint = now
				fmt.Fprintf(out, "%5.1fs  %s\n", now.Sub(start).Seconds(), p)
			}
		}
	}
}

// lagSettle bounds the wait for every level's lag to reach 0 once every
// application has an outcome: levels commit what they processed within about a
// second, so the lag trails the outcomes.
const lagSettle = 10 * time.Second

// settledLag returns the lag of every level (see visa.Lag), waiting up to settle
// for it to reach 0. With ctx done (Ctrl-C, and the embedded broker stopping) it
// still tries, for a second at most.
func settledLag(ctx context.Context, cluster []topology.Option, settle time.Duration) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settle+time.Second)
	defer cancel()
	deadline := time.Now().Add(settle)
	for {
		lag, err := visa.Lag(ctx, cluster)
		if err != nil {
			return nil, err
		}
		var total int64
		for _, n := range lag {
			total += n
		}
		if total == 0 || time.Now().After(deadline) {
			return lag, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describeDesk says what the desk does, for the start-up line.
func describeDesk(o visa.Options) string {
	var parts []string
	if len(o.SLA) > 0 {
		var sla []string
		for _, l := range visa.Levels {
			if d, ok := o.SLA[l.Name]; ok {
				sla = append(sla, fmt.Sprintf("%s %v", l.Name, d))
			}
		}
		parts = append(parts, "SLA per level "+strings.Join(sla, ", "))
	}
	if o.Review {
		review := "needs_review waits for a reviewer"
		if o.ReviewSLA > 0 {
			review += fmt.Sprintf(", escalated after %v", o.ReviewSLA)
		}
		parts = append(parts, review)
	}
	if o.Retry {
		parts = append(parts, "the model's rate limits and timeouts retried on timers")
	}
	return strings.Join(parts, "; ")
}
