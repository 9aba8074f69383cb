package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// traceCommand returns the trace command, which prints an application's journey
// as the pipeline's topics hold it.
func traceCommand() *cobra.Command {
	var (
		brokers []string
		shadow  string
		sec     cli.SecurityFlags
	)
	c := &cobra.Command{
		Use:   "trace APPLICATION-ID",
		Short: "Print an application's journey through the levels, from the topics themselves",
		Long: `Trace prints the journey of one application through the pipeline: every record
keyed by its ID on visa-applications-in, the scrutiny queues, final-decisions-out
and the levels' dead-letter topics, in time order, with its topic, partition and
offset, the level that wrote it and the one that reads it, the decision and the
reasons; then the outcome.

It reads the durable topics and nothing else: one partition of each, the one the
ID hashes to with Kafka's default partitioner, from its start to its current
end, without a consumer group. With --shadow it traces a shadow run of 'replay'
instead of production.`,
		Example: "  visa trace V1A2B3C-000042 --brokers 127.0.0.1:9092",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("'%s' takes one application ID, got %d arguments", c.CommandPath(), len(args))
			}
			return nil
		},
	}
	fs := c.Flags()
	fs.StringSliceVar(&brokers, "brokers", []string{"127.0.0.1:9092"}, "seed brokers, as `host:port,...`")
	fs.StringVar(&shadow, "shadow", "", "trace the shadow run with this `suffix` (see 'replay') instead of production")
	sec.AddFlags(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		id := args[0]
		secOpt, err := sec.Option()
		if err != nil {
			return err
		}
		return cli.Failure(func() error {
			events, err := visa.Trace(c.Context(), []topology.Option{topology.Brokers(brokers...), secOpt}, visa.Names{Suffix: shadow}, id)
			if err != nil {
				return fmt.Errorf("trace %s: %w", id, err)
			}
			if err := visa.WriteTrace(c.OutOrStdout(), id, events); err != nil {
				return err
			}
			if len(events) == 0 {
				return errors.New("application not found")
			}
			return nil
		}())
	}
	return c
}
