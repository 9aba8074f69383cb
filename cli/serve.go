package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/lookup"
	"github.com/sluicehq/sluice/topology"
)

// defaultLookupHTTP is the default address of the lookup service: beside
// run's live page on 8080.
const defaultLookupHTTP = "127.0.0.1:8081"

// serveCommand returns the serve command, which runs the lookup service of
// some of g's tables (package lookup).
func serveCommand(g *topology.Graph) *cobra.Command {
	var (
		tables      []string
		web         httpAddr = defaultLookupHTTP
		staleAfter  time.Duration
		exactlyOnce bool
		bf          brokerFlags
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve lookups of the topology's tables over HTTP until SIGINT or SIGTERM",
		Long: `Serve answers lookups of the tables named by --tables over HTTP on --http, from
local copies of them (topology.View): each a full copy of the table's
compacted changelog in DIR/views/TABLE, followed as the agents write it.

  GET  /tables/TABLE/KEY           the value, decoded with the table's codec,
                                   as JSON, with as_of (when it was written)
  POST /tables/TABLE               {"keys": ["k1", ...]}: up to 1000 at once
  GET  /features/ENTITY            the feature store's form, when one served
  POST /features                   table holds featurestore vectors
                                   ({"entities": [...]} for a batch)
  GET  /tables                     the served tables and how current each is
  GET  /healthz                    200 while serving, whatever the broker does
  GET  /readyz                     200 once every table has recovered, with
                                   status "serving" or "stale" (serving,
                                   possibly stale: not heard from the broker
                                   for --stale-after); 503 "loading" before
  GET  /metrics                    Prometheus metrics

Every lookup answer carries the headers Sluice-View-Age (seconds since its
table's copy last heard from the broker) and Sluice-View-Lag (changelog offsets
written before then that the copy lacks). From a copy's first recovery on,
lookups are answered from it while the broker is down, the agents restart or
the view reconnects; they answer 503 only while a copy has never recovered (a
fresh or wiped data directory). A copy that recovered survives a restart of
serve, which then answers from it at once while it catches up.

Without --brokers, serve starts the embedded broker on --listen with its log
in DIR/broker (run the agents against it with 'run --brokers ADDR'). With
--brokers it follows a cluster, where the agents run. Serve creates the
topology's missing topics as run does; while the cluster cannot be reached at
start, serve says so in one line and waits for it: on copies that recovered
before it answers lookups from them meanwhile (stale, and /readyz says so);
without, it answers once the cluster is up. Several serve processes can run side
by side, each with its own --data-dir: each holds a full copy of its tables.

On SIGINT or SIGTERM serve stops taking requests, finishes those in flight,
closes the copies and exits 0.`,
		Example: "  fraud serve --tables features-table --brokers 127.0.0.1:9092 --data-dir sluice-data/lookup-1",
	}
	fs := c.Flags()
	fs.StringSliceVar(&tables, "tables", nil, "tables to serve, as `name,...` (required; 'describe' lists the topology's tables)")
	fs.Var(&web, "http", "serve the lookups, /healthz, /readyz and /metrics on `host:port`")
	fs.DurationVar(&staleAfter, "stale-after", lookup.DefaultStaleAfter,
		"/readyz reports \"stale\" once a copy has not heard from the broker for this long")
	fs.BoolVar(&exactlyOnce, "exactly-once", false,
		"read only committed updates: for tables of agents that run with --exactly-once")
	bf.add(fs, true /* withCluster */)
	return leaf(c, func(c *cobra.Command) (err error) {
		if err := g.Validate(); err != nil {
			return invalidGraph(err)
		}
		if err := checkTables(g, tables); err != nil {
			return err
		}
		if web == "" {
			return usagef(`--http "": serve needs an address to answer on, such as %s`, defaultLookupHTTP)
		}
		if staleAfter <= 0 {
			return usagef("--stale-after %v: want a positive duration, such as 5s", staleAfter)
		}
		embedded, err := bf.embedded()
		if err != nil {
			return err
		}
		log := newLogger(c.ErrOrStderr(), level(bf.logLevel))
		var cluster []topology.Option // the cluster, and how to reach it
		if !embedded {
			if cluster, err = bf.cluster(); err != nil {
				return err
			}
		} else {
			b, err := bf.startEmbedded(log)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, b.Close()) }()
			cluster = []topology.Option{topology.Brokers(b.Addrs()...)}
		}
		views := append(slices.Clip(cluster), topology.DataDir(bf.dataDir), topology.WithLogger(log))
		if exactlyOnce {
			views = append(views, topology.ExactlyOnce(topology.DefaultCommitInterval))
		}
		srv, err := lookup.New(g, tables, lookup.Views(views...), lookup.StaleAfter(staleAfter))
		if err != nil {
			return err
		}
		// Copies that recovered before answer at once, also while the cluster
		// cannot be reached: provisioning then waits for it beside them.
		// Without them there is nothing to answer from until it can be.
		copies := srv.HasCopies()
		provision := func(ctx context.Context) error {
			return provisionWaiting(ctx, g, log, copies, append(slices.Clip(cluster),
				topology.Replication(int(bf.replication)), topology.WithLogger(log))...)
		}
		if !copies {
			if err := provision(c.Context()); err != nil {
				return err
			}
			if c.Context().Err() != nil {
				return nil // stopped while waiting for the cluster
			}
		}
		ln, err := listenHTTP(c, web, log, "")
		if err != nil {
			return err
		}
		logServing(log, srv, ln.Addr(), bf.dataDir)
		eg, ctx := errgroup.WithContext(c.Context())
		if copies {
			eg.Go(func() error { return provision(ctx) })
		}
		eg.Go(func() error { return serveLookups(ctx, srv, ln, log) })
		if err := eg.Wait(); err != nil {
			return err
		}
		log.Info("stopped serving lookups")
		return nil
	})
}

// provisionWaiting provisions g's topics as [topology.Provision] does,
// waiting for the cluster while it cannot be reached (serve may start before
// its brokers, or during an outage): it logs one line when the first attempt
// fails (saying whether serve answers from its copies meanwhile) and retries
// with backoff until ctx is done (then it returns nil). An error retrying
// cannot fix (a refused credential or certificate, a topic mismatch, one
// Kafka marks non-retriable) returns at once.
func provisionWaiting(ctx context.Context, g *topology.Graph, log *slog.Logger, copies bool, opts ...topology.Option) error {
	wait := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err := topology.Provision(ctx, g, opts...)
		if err == nil || ctx.Err() != nil {
			if err == nil && attempt > 0 {
				log.Info("the cluster answers: topics provisioned")
			}
			return nil
		}
		if !waitable(err) {
			return err
		}
		switch {
		case attempt == 0 && copies:
			log.Warn("cannot reach the cluster: waiting for it, answering lookups from the local copies meanwhile (Ctrl-C stops)", "error", err)
		case attempt == 0:
			log.Warn("cannot reach the cluster: waiting for it (serve answers once its topics exist; Ctrl-C stops)", "error", err)
		default:
			log.Debug("the cluster still does not answer", "error", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// waitable reports whether err, from [topology.Provision], may heal while
// the cluster comes up: not a refused credential or certificate, a bad
// setting, a topic mismatch, or a Kafka error that Kafka marks
// non-retriable.
func waitable(err error) bool {
	for _, final := range []error{topology.ErrAuthentication, topology.ErrTLS, topology.ErrSecurity,
		topology.ErrTopicMismatch, topology.ErrOption, topology.ErrKafkaVersion} {
		if errors.Is(err, final) {
			return false
		}
	}
	var ke *kerr.Error
	return !errors.As(err, &ke) || ke.Retriable
}

// checkTables returns a usage error wrapping [topology.ErrUnknownTopic] if
// names is empty or names a table g does not have.
func checkTables(g *topology.Graph, names []string) error {
	known := g.Tables()
	if len(names) == 0 {
		return usagef("--tables is required: name the tables to serve, of %s", strings.Join(known, ", "))
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return &usageError{err: &hint{
				msg: fmt.Sprintf("unknown table %q: use --tables with tables of the topology: %s", n, strings.Join(known, ", ")),
				err: topology.ErrUnknownTopic,
			}}
		}
	}
	return nil
}

// logServing logs where srv answers, and what.
func logServing(log *slog.Logger, srv *lookup.Server, addr net.Addr, dataDir string) {
	url := "http://" + displayAddr(addr) + "/"
	attrs := []any{"http", url, "tables", srv.Tables(), "data_dir", dataDir}
	if f := srv.Features(); f != "" {
		attrs = append(attrs, "features", url+"features/{entity} ("+f+")")
	}
	log.Info("serving lookups: GET "+url+"tables/{table}/{key}; /healthz, /readyz, /metrics", attrs...)
}

// serveLookups runs srv's views and answers HTTP on ln with it until ctx is
// done or a view fails; then it stops taking requests, finishes those in
// flight and stops the views. It logs once every table has recovered.
func serveLookups(ctx context.Context, srv *lookup.Server, ln net.Listener, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return srv.Run(ctx) })
	eg.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("lookup service: %w", err)
		}
		return nil
	})
	eg.Go(func() error {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for logged := false; ; {
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				return hs.Shutdown(sctx)
			case <-tick.C:
				if !logged && srv.Ready() {
					logged = true
					log.Info("every table recovered: lookups answer from the local copies, also while the broker is down", "tables", srv.Tables())
				}
			}
		}
	})
	return eg.Wait()
}

// Lookups is the lookup service an all-in-one command runs beside its
// pipeline, as the serve command runs it alone: the lookups of some tables of
// the graph on --lookup (host:port, "" for none). Declare its flag with
// [Lookups.AddFlags] and start it with [Lookups.Start] once the broker is up.
type Lookups struct {
	web    httpAddr
	tables []string
	url    string
}

// AddFlags declares --lookup on c; the service will serve tables.
func (l *Lookups) AddFlags(c *cobra.Command, tables ...string) {
	l.web = defaultLookupHTTP
	l.tables = tables
	c.Flags().Var(&l.web, "lookup", fmt.Sprintf("serve lookups of %s on `host:port` (\"\" turns it off; see the serve command)", strings.Join(tables, ", ")))
}

// URL returns the base URL of the lookup service once [Lookups.Start] has
// started it (ending in "/"), "" if it is off.
func (l *Lookups) URL() string { return l.url }

// Start starts the lookup service of g's tables, with views on brokers
// (reached as conn says: [topology.WithSecurity] and the like) that keep
// their copies under dataDir, until ctx is done. It returns a function
// that waits for it to stop and returns its error. A --lookup address in use
// falls back to a free port unless chosen; errors are usage errors (exit 2)
// or failures (exit 1), as [Execute] reports them.
func (l *Lookups) Start(ctx context.Context, c *cobra.Command, g *topology.Graph, brokers []string, dataDir string, log *slog.Logger, conn ...topology.Option) (wait func() error, err error) {
	if l.web == "" {
		return func() error { return nil }, nil
	}
	views := append([]topology.Option{topology.Brokers(brokers...), topology.DataDir(dataDir), topology.WithLogger(log)}, conn...)
	srv, err := lookup.New(g, l.tables, lookup.Views(views...))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", string(l.web))
	if err != nil && !c.Flags().Changed("lookup") { // the default is taken: another process
		host, _, _ := net.SplitHostPort(string(l.web))
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err == nil {
			log.Info("the default --lookup address is in use: serving lookups on a free port instead; choose one with --lookup",
				"default", string(l.web), "lookup", ln.Addr().String())
		}
	}
	if err != nil {
		return nil, &failure{err: fmt.Errorf("--lookup %s: %w: use another address (port 0 picks a free one) or --lookup \"\"", l.web, err)}
	}
	l.url = "http://" + displayAddr(ln.Addr()) + "/"
	done := make(chan error, 1)
	go func() { done <- serveLookups(ctx, srv, ln, log) }()
	return func() error { return <-done }, nil
}
