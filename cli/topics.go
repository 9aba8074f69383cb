package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/topology"
)

// topicsCommand returns the topics command, which creates and checks g's topics
// with topology.Provision.
func topicsCommand(g *topology.Graph) *cobra.Command {
	var bf brokerFlags
	c := &cobra.Command{
		Use:   "topics",
		Short: "Create the topology's missing topics, check the others, and list them",
		Long: `Topics creates the topology's missing topics and checks the existing ones, as
run does before it starts, then prints one line per topic: its name, kind
(stream or table), partitions, replication, cleanup policy (delete for streams,
compact for tables) and whether it was created now or existed. An existing topic
whose partition count or cleanup policy differs from the declaration is listed
and reported (exit status 1); it is never changed.

Without --brokers, topics starts the embedded broker on --listen with its log in
DIR/broker, where run keeps it, for as long as it takes.`,
	}
	bf.add(c.Flags(), true /* withCluster */)
	return leaf(c, func(c *cobra.Command) (err error) {
		if err := g.Validate(); err != nil {
			return invalidGraph(err)
		}
		embedded, err := bf.embedded()
		if err != nil {
			return err
		}
		log := newLogger(c.ErrOrStderr(), level(bf.logLevel))
		brokers := bf.brokers
		if embedded {
			b, err := bf.startEmbedded(log)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, b.Close()) }()
			brokers = b.Addrs()
		}
		opts := []topology.Option{topology.Brokers(brokers...), topology.Replication(int(bf.replication)), topology.WithLogger(log)}
		if !embedded {
			cluster, err := bf.cluster()
			if err != nil {
				return err
			}
			opts = append(opts, cluster...)
		}
		sts, perr := topology.Provision(c.Context(), g, opts...)
		if err := writeTopics(c, sts); err != nil {
			return errors.Join(perr, err)
		}
		return perr
	})
}

// writeTopics prints sts as a table on c's output.
func writeTopics(c *cobra.Command, sts []topology.TopicStatus) error {
	if len(sts) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tKIND\tPARTITIONS\tREPLICATION\tCLEANUP.POLICY\tSTATUS")
	for _, s := range sts {
		status := "existing"
		if s.Created {
			status = "created"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Kind, s.Partitions, s.Replication, s.CleanupPolicy, status)
	}
	return tw.Flush()
}
