package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// demoCommand returns the demo command: the generator alone, for a running
// pipeline.
func demoCommand() *cobra.Command {
	var (
		gen     genFlags
		brokers []string
		g       *visa.Generator
		sec     cli.SecurityFlags
		secOpt  topology.Option
	)
	c := &cobra.Command{
		Use:   "demo",
		Short: "Send generated visa applications to a running pipeline",
		Long: `Demo sends realistic random visa applications to visa-applications-in on
--brokers: a mix of visa types, a share of them invalid (a level rejects them)
and a few malformed (level A dead-letters them). It returns once the broker has
acknowledged every record.`,
		Example: "  visa demo --brokers 127.0.0.1:9092 --count 1000 --rate 200 --mix tourist=50,business=30,student=20 --invalid 10 --malformed 2",
	}
	fs := c.Flags()
	gen.add(fs)
	fs.StringSliceVar(&brokers, "brokers", []string{"127.0.0.1:9092"}, "seed brokers, as `host:port,...`")
	sec.AddFlags(c)
	c.RunE = failing(func() (err error) {
		if secOpt, err = sec.Option(); err != nil {
			return err
		}
		g, err = gen.generator()
		return err
	}, func(c *cobra.Command) error {
		fmt.Fprintf(c.OutOrStdout(), "sending %s to %s\n", gen.String(), strings.Join(brokers, ","))
		n := 0
		bar := cli.StartProgress(c.ErrOrStderr(), "sending applications", int64(gen.count))
		err := visa.Produce(c.Context(), g, gen.count, gen.rate, func(visa.Item) { n++; bar.Add(1) }, topology.Brokers(brokers...), secOpt)
		bar.Done()
		fmt.Fprintf(c.OutOrStdout(), "sent %d applications\n", n)
		return err
	})
	return c
}

// routesCommand returns the routes command, which writes routes to the routing
// table.
func routesCommand(g *topology.Graph) *cobra.Command {
	var (
		brokers []string
		set     []string
		routes  []visa.Route
		sec     cli.SecurityFlags
		secOpt  topology.Option
	)
	c := &cobra.Command{
		Use:   "routes",
		Short: "Write routes to the routing table (the default ones, or those of --set)",
		Long: `Routes creates the pipeline's topics if they are missing and writes routes to
the routing table, the compacted topic visa-routes, one record per visa type:
the default routes (tourist, business, student) or, with --set, only the routes
given. Level A reads the table as it changes: a new route applies to the
applications it reads after the record.`,
		Example: "  visa routes --brokers 127.0.0.1:9092 --set work=B,E,D",
	}
	fs := c.Flags()
	fs.StringSliceVar(&brokers, "brokers", []string{"127.0.0.1:9092"}, "seed brokers, as `host:port,...`")
	fs.StringArrayVar(&set, "set", nil, "a route to write, as `TYPE=LEVEL,...` (levels after A, such as work=B,E,D; tourist= for A alone)")
	sec.AddFlags(c)
	c.RunE = failing(func() (err error) {
		if secOpt, err = sec.Option(); err != nil {
			return err
		}
		routes = visa.DefaultRoutes
		if len(set) > 0 {
			routes = nil
			for _, s := range set {
				r, err := visa.ParseRoute(s)
				if err != nil {
					return fmt.Errorf("--set: %w", err)
				}
				routes = append(routes, r)
			}
		}
		return nil
	}, func(c *cobra.Command) error {
		opts := []topology.Option{topology.Brokers(brokers...), secOpt}
		if _, err := topology.Provision(c.Context(), g, opts...); err != nil {
			return err
		}
		if err := visa.WriteRoutes(c.Context(), routes, opts...); err != nil {
			return err
		}
		for _, r := range routes {
			fmt.Fprintf(c.OutOrStdout(), "route %s\n", r)
		}
		return nil
	})
	return c
}
