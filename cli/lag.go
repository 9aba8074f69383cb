package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// Timeouts of the lag command: reaching a broker, and the whole command.
const (
	lagDialTimeout = 3 * time.Second
	lagTimeout     = 30 * time.Second
)

// lagCommand returns the lag command, which prints the consumer lag of g's
// agents with observe.GraphLag.
func lagCommand(g *topology.Graph) *cobra.Command {
	var (
		agents  []string
		brokers []string
		sec     SecurityFlags
	)
	c := &cobra.Command{
		Use:   "lag",
		Short: "Print the consumer lag of the topology's agents, per partition",
		Long: `Lag prints, for each agent (its consumer group) and each partition it reads, the
committed offset, the log end offset, the lag in records, and its age: how long
ago the oldest record the agent has not processed was produced. It prints a
table like kafka-consumer-groups --describe; "-" marks what is unknown, such
as the committed offset of a partition the agent has never committed to (its
lag then counts every record).

Without --brokers, lag asks the embedded broker a running 'run' listens on by
default, ` + defaultListen + `.`,
	}
	fs := c.Flags()
	fs.StringSliceVar(&agents, "agents", nil, "agents to show, as `name,...` (default all; 'describe' lists them)")
	fs.StringSliceVar(&brokers, "brokers", nil,
		"seed brokers, as `host:port,...` (default: the embedded broker of 'run', "+defaultListen+")")
	sec.AddFlags(c)
	return leaf(c, func(c *cobra.Command) error {
		if err := g.Validate(); err != nil {
			return invalidGraph(err)
		}
		if err := checkAgents(g, agents); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context(), lagTimeout)
		defer cancel()
		embedded := len(brokers) == 0
		if embedded {
			brokers = []string{defaultListen}
		}
		if err := reachable(ctx, brokers, embedded); err != nil {
			return err
		}
		secOpt, err := sec.Option()
		if err != nil {
			return err
		}
		opts, err := topology.ClientOptions(topology.Brokers(brokers...), secOpt)
		if err != nil {
			return usagef("%w", err)
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return usagef("--brokers %q: %w", brokers, err)
		}
		defer cl.Close()
		rows, err := observe.GraphLag(ctx, cl, g)
		if err != nil {
			return topology.CheckConnection(err)
		}
		if len(agents) > 0 {
			rows = slices.DeleteFunc(rows, func(r observe.LagRow) bool {
				return !slices.ContainsFunc(agents, func(a string) bool { return g.Names(a).Group == r.Group })
			})
		}
		return writeLag(c.OutOrStdout(), rows)
	})
}

// reachable returns an error saying what to do if no broker of addrs accepts
// a TCP connection; embedded says the address is the default, not a flag's.
func reachable(ctx context.Context, addrs []string, embedded bool) error {
	var errs []error
	for _, a := range addrs {
		d := net.Dialer{Timeout: lagDialTimeout}
		conn, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return conn.Close()
		}
		errs = append(errs, err)
	}
	if embedded {
		return &hint{
			msg: fmt.Sprintf("nothing listens on %s: start '%s run' first (its embedded broker listens there by default), or give --brokers",
				defaultListen, programName()),
			err: errors.Join(append([]error{observe.ErrNoBroker}, errs...)...),
		}
	}
	return &hint{
		msg: fmt.Sprintf("no broker answers at %q: check --brokers, or start the cluster", addrs),
		err: errors.Join(append([]error{observe.ErrNoBroker}, errs...)...),
	}
}
