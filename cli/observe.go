package cli

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// Observe is what a long-running command serves and exports besides its
// work, as run has it: the live page, its JSON API and /metrics on --http
// (default 127.0.0.1:8080, "" for none), and spans on --trace (off, stdout or
// otlp, with --trace-endpoint). Examples with a command of their own declare
// the same flags with [Observe.AddFlags] and call [Observe.Start] before
// topology.Run.
type Observe struct {
	web   httpAddr
	tf    traceFlags
	url   string // of the live page, once started
	views []observe.View
	conn  []topology.Option // see Connect
}

// AddView adds a view the live page serves and links to (see observe.View),
// such as a review queue; call it before [Observe.Start].
func (o *Observe) AddView(v observe.View) { o.views = append(o.views, v) }

// Connect sets how the live page reaches a cluster given with --brokers:
// the options of topology.Run that say so (topology.WithSecurity,
// topology.KafkaConfig). Call it before [Observe.Start].
func (o *Observe) Connect(opts ...topology.Option) { o.conn = opts }

// URL returns the address of the live page once [Observe.Start] has started
// it, "" if it is off.
func (o *Observe) URL() string { return o.url }

// AddFlags declares --http, --trace and --trace-endpoint on c.
func (o *Observe) AddFlags(c *cobra.Command) {
	o.web = httpAddr(defaultHTTP)
	fs := c.Flags()
	o.tf.add(fs)
	fs.Var(&o.web, "http", "serve the live page, its JSON API and /metrics on `host:port` (\"\" turns it off)")
}

// Start starts the HTTP server and the trace exporter the flags of c ask for,
// for graph g, logging to log. It returns the options that connect them to
// topology.Run and a function to call once Run has returned, which stops
// the server and flushes the spans still buffered. Its errors are usage
// errors (exit 2) or failures (exit 1), as [Execute] reports them.
func (o *Observe) Start(ctx context.Context, c *cobra.Command, g *topology.Graph, log *slog.Logger) (opts []topology.Option, stop func(), err error) {
	tracing, stopTracing, err := o.tf.start(ctx, "sluice-"+g.Name, c.OutOrStdout())
	if err != nil {
		return nil, nil, err
	}
	if tracing != nil {
		opts = append(opts, tracing)
	}
	ctx, cancel := context.WithCancel(ctx)
	url, wait, err := startHTTP(ctx, c, g, o.web, o.conn, log, &opts, o.views...)
	if err != nil {
		cancel()
		_ = stopTracing()
		return nil, nil, err
	}
	o.url = url
	return opts, func() {
		cancel()
		wait()
		if err := stopTracing(); err != nil {
			log.Warn("trace export failed", "error", err)
		}
	}, nil
}
