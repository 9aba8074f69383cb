package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// defaultHTTP is the default address of run's live page and /metrics.
const defaultHTTP = "127.0.0.1:8080"

// errHTTPInUse stands for an --http address that something else listens on.
var errHTTPInUse = errors.New("cli: --http address in use")

// httpAddr is a flag value holding a "host:port" to serve HTTP on, or "" for
// none.
type httpAddr string

func (a *httpAddr) String() string { return string(*a) }
func (a *httpAddr) Type() string   { return "host:port" }

func (a *httpAddr) Set(s string) error {
	if s == "" {
		*a = ""
		return nil
	}
	var l listenAddr
	if err := l.Set(s); err != nil {
		return errors.New(`want host:port with a port in 0-65535, such as 127.0.0.1:8080 (port 0 picks a free one), or "" for no HTTP server`)
	}
	*a = httpAddr(s)
	return nil
}

// startHTTP starts the live page, its API and /metrics on addr for as long as
// ctx lasts, and adds to opts what connects it to the running topology. It
// returns a function that waits for the server to stop. An address taken by
// something else is a failure if the user chose it; the default falls back to
// a free port, so that several run processes on one machine (instances of
// agents) all start.
func startHTTP(ctx context.Context, c *cobra.Command, g *topology.Graph, addr httpAddr, conn []topology.Option, log *slog.Logger, opts *[]topology.Option, views ...observe.View) (url string, wait func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := listenHTTP(c, addr, log, `, --http "" to turn the page off`)
	if err != nil {
		return "", nil, err
	}
	reg := metrics.New() // this run's: its agents record into it, its page serves it
	srv, err := observe.NewServer(g, observe.WithLogger(log), observe.Metrics(reg.Handler()), observe.Connect(conn...), observe.Views(views...))
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	reg.SetLagSource(lagSource(srv))
	*opts = append(*opts, topology.Metrics(reg), topology.OnProvisioned(srv.SetBrokers))
	url = "http://" + displayAddr(ln.Addr()) + "/"
	log.Info("live page: open it in a browser; Prometheus metrics on /metrics", "http", url)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("live page stopped", "error", err)
		}
	}()
	return url, func() { <-done }, nil
}

// listenHTTP listens on addr, the value of c's --http flag. An address taken
// by something else is a failure if the user chose it (the message ends with
// more); the default falls back to a free port, logged, so that several
// processes on one machine all start.
func listenHTTP(c *cobra.Command, addr httpAddr, log *slog.Logger, more string) (net.Listener, error) {
	explicit := c.Flags().Changed("http") || os.Getenv(envName("http")) != ""
	ln, err := net.Listen("tcp", string(addr))
	if errors.Is(err, syscall.EADDRINUSE) && !explicit {
		host, _, _ := net.SplitHostPort(string(addr))
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err == nil {
			log.Info("the default --http address is in use (another process?): serving on a free port instead; choose one with --http",
				"default", string(addr), "http", ln.Addr().String())
		}
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, &failure{err: &hint{
			msg: fmt.Sprintf(`--http %s: address already in use: use another --http address (port 0 picks a free one)%s, or stop what listens there`, addr, more),
			err: errHTTPInUse,
		}}
	case err != nil:
		return nil, usagef("--http %s: %w", addr, err)
	}
	return ln, nil
}

// lagSource reports to /metrics the lag the live page's server last sampled,
// so that a scrape asks the broker nothing more.
func lagSource(srv *observe.Server) metrics.LagFunc {
	return func(context.Context) ([]metrics.Lag, error) {
		snap := srv.Snapshot()
		if snap.Error != "" {
			return nil, errors.New(snap.Error)
		}
		out := make([]metrics.Lag, 0, len(snap.Lag))
		for _, r := range snap.Lag {
			if r.Lag < 0 {
				continue
			}
			out = append(out, metrics.Lag{Agent: r.Group, Topic: r.Topic, Partition: r.Partition, Records: r.Lag, Age: max(r.Age, 0)})
		}
		return out, nil
	}
}

// displayAddr returns a as a browser can open it: an unspecified host
// (0.0.0.0, ::) becomes localhost.
func displayAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("localhost", strconv.Itoa(ta.Port))
}
