package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/broker"
)

// brokerCommand returns the broker command, which runs the embedded broker alone.
func brokerCommand() *cobra.Command {
	var (
		bf      brokerFlags
		cleaner time.Duration
	)
	c := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker until SIGINT or SIGTERM",
		Long: `Broker runs sluice's embedded single-node Kafka-protocol broker on --listen and
logs its address (addr=HOST:PORT). Any Kafka client can use it; it creates no
topic on its own, and being one node it accepts replication factor 1 only.

Topics, records and committed offsets persist in DIR/broker, the directory the
embedded broker of 'run' and 'topics' uses, so they can take turns on one data
directory. On SIGINT or SIGTERM the broker writes its state, closes, and the
command exits 0.`,
	}
	bf.add(c.Flags(), false /* withCluster */)
	c.Flags().DurationVar(&cleaner, "cleaner-interval", broker.DefaultCleanerInterval,
		"how often the log cleaner compacts compacted topics and applies retention (at least 1ms)")
	return leaf(c, func(c *cobra.Command) error {
		if cleaner < time.Millisecond {
			return usagef("--cleaner-interval %v: want at least 1ms", cleaner)
		}
		log := newLogger(c.ErrOrStderr(), level(bf.logLevel))
		dir := filepath.Join(bf.dataDir, "broker")
		b, err := broker.Start(broker.DataDir(dir), broker.Listen(string(bf.listen)),
			broker.CleanerInterval(cleaner), broker.WithLogger(log))
		if err != nil {
			return fmt.Errorf("embedded broker: %w", err)
		}
		logBroker(log, b.Addrs())
		<-c.Context().Done()
		log.Info("stopping broker", "data_dir", dir)
		if err := b.Close(); err != nil {
			return err
		}
		log.Info("broker stopped")
		return nil
	})
}
