package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// seedTimeout bounds the seeding of the routing table when run starts.
const seedTimeout = 30 * time.Second

// wireSeedRoutes has the run command, when it runs level A, write the default
// routes to the routing table once its topics exist and before any agent
// starts, if the table has never had a record: so that 'visa run' and then
// 'visa demo' on a fresh data dir route applications as 'visa all' does,
// instead of sending each to needs_review for want of a route. It says so in
// one line; a failure to seed is said too, and run goes on (level A then
// finds no routes, as before).
func wireSeedRoutes(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "run" {
			continue
		}
		prev := c.PreRunE
		c.PreRunE = func(c *cobra.Command, args []string) error {
			if prev != nil {
				if err := prev(c, args); err != nil {
					return err
				}
			}
			agents, _ := c.Flags().GetStringSlice("agents")
			if len(agents) > 0 && !slices.Contains(agents, visa.Levels[0].Agent()) {
				return nil // level A, the table's reader, runs elsewhere
			}
			ctx := c.Context()
			if ctx == nil { // PreRunE called outside Execute
				ctx = context.Background()
			}
			c.SetContext(cli.WithRunOptions(ctx, func(cluster []topology.Option) []topology.Option {
				return []topology.Option{topology.OnProvisioned(func(addrs []string) {
					seedRoutes(c, append([]topology.Option{topology.Brokers(addrs...)}, cluster...))
				})}
			}))
			return nil
		}
	}
}

// seedRoutes writes the default routes if the routing table is empty and
// says what it did on c's error output.
func seedRoutes(c *cobra.Command, opts []topology.Option) {
	ctx, cancel := context.WithTimeout(c.Context(), seedTimeout)
	defer cancel()
	wrote, err := visa.SeedRoutes(ctx, visa.DefaultRoutes, opts...)
	switch {
	case err != nil:
		fmt.Fprintf(c.ErrOrStderr(), "visa: could not write the default routes to the empty routing table %s (%v): run 'visa routes' to write them\n", visa.RoutesTable.Name, err)
	case wrote:
		var rs []string
		for _, r := range visa.DefaultRoutes {
			rs = append(rs, r.String())
		}
		fmt.Fprintf(c.ErrOrStderr(), "visa: the routing table %s was empty: wrote the default routes (%s); change them with 'visa routes --set TYPE=LEVEL,...'\n", visa.RoutesTable.Name, strings.Join(rs, "; "))
	}
}
