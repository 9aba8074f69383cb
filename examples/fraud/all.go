package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/processors/inference"
	"github.com/sluicehq/sluice/topology"
)

// allConfig is the configuration of the all command.
type allConfig struct {
	gen       GenConfig
	brokers   []string
	listen    string
	dataDir   string
	modelPath string
	model     inference.Model
	wait      time.Duration // for predictions after the last request was sent
	ready     time.Duration // for every agent to start
	logLevel  string
	obs       cli.Observe // --http and --trace
	lookups   cli.Lookups // --lookup
	sec       cli.SecurityFlags
	secOpt    topology.Option // of sec, with --brokers
}

// allCommand returns the all command, the default: broker, agents and
// generator in one process, with a live summary.
func allCommand() *cobra.Command {
	c := allConfig{ready: 2 * time.Minute}
	cmd := &cobra.Command{
		Use:   "all",
		Short: "Run broker, agents and generator in one process and print a live summary (the default)",
		Long: `All runs the whole pipeline in this process: the embedded broker (unless
--brokers names a cluster), the window agents computing the features, the
feature store, the fraud scorer, and a generator of clicks, transactions and
payment requests. It waits for every agent to start, sends the requests,
prints a summary every second, and once every request is scored prints the
final summary and exits 0: requests scored, score distribution, latency from
request to prediction. Ctrl-C stops it earlier, cleanly, with the summary so
far.

On --lookup (default 127.0.0.1:8081, "" for none) it serves the lookup
service of features-table, as 'fraud serve --tables features-table' does:
GET /features/{user} answers a user's latest feature vector. As each payment
request is sent, all fetches its user's vector from it over HTTP, as an
inference service would, and the summary shows that latency beside the
scorer's.`,
		Example: "  fraud all --count 5000 --rate 500 --users 2000 --fraud 5 --seed 7",
		Args:    cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.IntVar(&c.gen.Count, "count", 2000, "payment requests to send, one per session")
	fs.IntVar(&c.gen.Rate, "rate", 200, "sessions (and so requests) started per second")
	fs.IntVar(&c.gen.Users, "users", 1000, "number of distinct users")
	fs.Float64Var(&c.gen.Fraud, "fraud", 5, "percentage of fraud-ish users, whose sessions are click bursts and high-value transactions")
	fs.Uint64Var(&c.gen.Seed, "seed", 0, "random seed, for a reproducible sequence (0: from the clock, printed)")
	fs.StringVar(&c.gen.Prefix, "prefix", "", "request ID prefix (default: P and the time, unique per run)")
	fs.StringSliceVar(&c.brokers, "brokers", nil, "seed brokers of a Kafka cluster, as `host:port,...` (default: an embedded broker)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:9092", "address of the embedded broker (port 0 picks a free one)")
	fs.StringVar(&c.dataDir, "data-dir", "sluice-data/fraud", "local state goes in `DIR`, the embedded broker's log in DIR/broker")
	fs.StringVar(&c.modelPath, "model", "", "logistic regression JSON `FILE` (default: the compiled-in model/fraud.json)")
	fs.DurationVar(&c.wait, "wait", 2*time.Minute, "how long to wait for predictions after the last request was sent")
	fs.StringVar(&c.logLevel, "log-level", "warn", "least severe log messages written to stderr (debug, info, warn, error)")
	c.obs.AddFlags(cmd)
	c.lookups.AddFlags(cmd, FeatureTable.Name)
	c.sec.AddFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := c.check(); err != nil {
			return err // a usage error: exit status 2
		}
		var l slog.Level
		_ = l.UnmarshalText([]byte(c.logLevel)) // checked
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: l}))
		return cli.Failure(runAll(cmd, c, log))
	}
	return cmd
}

// check validates the flags and loads the model.
func (c *allConfig) check() error {
	switch {
	case c.gen.Count < 1:
		return fmt.Errorf("--count %d: want at least 1 request", c.gen.Count)
	case c.gen.Rate < 1:
		return fmt.Errorf("--rate %d: want at least 1 request a second", c.gen.Rate)
	case c.gen.Users < 1:
		return fmt.Errorf("--users %d: want at least 1", c.gen.Users)
	case !(c.gen.Fraud >= 0 && c.gen.Fraud <= 100):
		return fmt.Errorf("--fraud %v: want a percentage from 0 to 100", c.gen.Fraud)
	case c.wait <= 0:
		return fmt.Errorf("--wait %v: want a positive duration", c.wait)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	if c.gen.Seed == 0 {
		c.gen.Seed = uint64(time.Now().UnixNano())
	}
	if c.gen.Prefix == "" {
		c.gen.Prefix = "P" + strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36))
	}
	var err error
	if c.secOpt, err = c.sec.Option(); err != nil {
		return err
	}
	if c.secOpt != nil && len(c.brokers) == 0 {
		return fmt.Errorf("the security flags need --brokers: the embedded broker is plaintext")
	}
	m, err := loadModel(c.modelPath)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	c.model = m
	return nil
}

// runAll runs the pipeline until every request the generator sends is scored,
// or cmd's context is done, with the live page and tracing of c.obs. It
// returns nil in both cases, and an error if the pipeline fails or
// predictions are missing c.wait after the last request was sent.
func runAll(cmd *cobra.Command, c allConfig, log *slog.Logger) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	tally := NewTally()
	g, err := Graph(c.model, tally.Watcher())
	if err != nil {
		return err
	}
	c.obs.Connect(c.secOpt)
	more, stopObs, err := c.obs.Start(ctx, cmd, g, log)
	if err != nil {
		return err
	}
	defer stopObs()
	gen, err := NewGenerator(c.gen)
	if err != nil {
		return err
	}
	opts := []topology.Option{topology.DataDir(c.dataDir), topology.WithLogger(log)}
	if len(c.brokers) > 0 {
		opts = append(opts, topology.Brokers(c.brokers...), c.secOpt)
	} else {
		opts = append(opts, topology.EmbeddedListen(c.listen))
	}
	opts = append(opts, more...)
	waitLookups := func() error { return nil }
	err = cli.Drive(ctx, g, cli.Driver{
		Broker: func(ctx context.Context, addrs []string) error {
			fmt.Fprintf(out, "broker %s; data in %s; model %s version %s\n", strings.Join(addrs, ","), c.dataDir, c.model.Name(), c.model.Version())
			if u := c.obs.URL(); u != "" {
				fmt.Fprintf(out, "live page %s (metrics on %smetrics)\n", u, u)
			}
			wait, err := c.lookups.Start(ctx, cmd, g, addrs, c.dataDir, log, c.secOpt)
			if err != nil {
				return err
			}
			waitLookups = wait
			if u := c.lookups.URL(); u != "" {
				fmt.Fprintf(out, "lookup service %s: GET %sfeatures/{user} (see 'fraud serve --help')\n", u, u)
			}
			return nil
		},
		Ready: c.ready,
		Run: func(ctx context.Context, addrs []string) error {
			fmt.Fprintf(out, "all %d agents running; sending %d payment requests at %d/s from %d users, %g%% of them fraud-ish (seed %d)\n",
				len(g.Agents), c.gen.Count, c.gen.Rate, c.gen.Users, c.gen.Fraud, c.gen.Seed)
			sent := tally.Sent
			if u := c.lookups.URL(); u != "" {
				probe := newLookupProbe(u, tally)
				pctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); probe.run(pctx) }()
				defer func() { stop(); <-done }()
				sent = func(e Event, at time.Time) {
					tally.Sent(e, at)
					probe.enqueue(e.User)
				}
			}
			return follow(ctx, c, gen, addrs, sent, tally, out)
		},
	}, opts...)
	return errors.Join(err, waitLookups())
}

// follow sends the requests, prints progress every second, and prints the
// summary when every request is scored, ctx is done, or c.wait has passed
// since the last was sent.
func follow(ctx context.Context, c allConfig, gen *Generator, addrs []string, onSent func(Event, time.Time), tally *Tally, out io.Writer) error {
	sent := make(chan error, 1)
	go func() { sent <- Produce(ctx, gen, onSent, topology.Brokers(addrs...), c.secOpt) }()
	start := time.Now()
	check := time.NewTicker(20 * time.Millisecond)
	defer check.Stop()
	lastPrint := start
	var expire <-chan time.Time
	progress := func(now time.Time, s Stats) {
		fmt.Fprintf(out, "%5.1fs  %s\n", now.Sub(start).Seconds(), s.Progress())
	}
	interrupted := func() error {
		fmt.Fprintln(out, "interrupted; summary so far:")
		tally.Stats().WriteSummary(out)
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			if sent != nil {
				<-sent
			}
			return interrupted()
		case err := <-sent:
			sent = nil
			if ctx.Err() != nil {
				return interrupted() // the generator saw the stop first
			}
			if err != nil {
				return fmt.Errorf("generator: %w", err)
			}
			tally.Seal()
			t := time.NewTimer(c.wait)
			defer t.Stop()
			expire = t.C
		case <-expire:
			s := tally.Stats()
			fmt.Fprintf(out, "gave up waiting %v after the last request was sent\n", c.wait)
			s.WriteSummary(out)
			return fmt.Errorf("%d of %d requests have no prediction", s.Sent-s.Scored, s.Sent)
		case now := <-check.C:
			if tally.Done() {
				s := tally.Stats()
				progress(now, s)
				fmt.Fprintln(out, "every request is scored")
				s.WriteSummary(out)
				return nil
			}
			if now.Sub(lastPrint) >= time.Second {
				lastPrint = now
				progress(now, tally.Stats())
			}
		}
	}
}
