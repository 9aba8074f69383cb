package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/soak"
)

// verifyCommand returns the verify command: the verifier alone, on a cluster
// whose agents have stopped.
func verifyCommand() *cobra.Command {
	var (
		f       commonFlags
		brokers []string
	)
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify the soak's output and tables on a cluster",
		Long: `Verify reads the soak's input, output and agent tables on --brokers to their
ends and checks them as run does, taking the input for what was sent (run knows
which writes were acknowledged; verify does not). Stop the agents first. The
last line it prints is machine-readable; it exits 1 if the mode's promise is
broken.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needBrokers(brokers); err != nil {
				return err
			}
			log, err := f.logger(c)
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "sluice-soak-verify-")
			if err != nil {
				return cli.Failure(err)
			}
			defer os.RemoveAll(dir)
			sec, err := f.sec.Security()
			if err != nil {
				return err
			}
			counts, err := soak.Verify(c.Context(), soak.VerifyConfig{Brokers: brokers, Namespace: f.namespace, Security: sec,
				Mode: f.mode(), DataDir: dir, Out: c.OutOrStdout(), Logger: log})
			if err != nil {
				return cli.Failure(err)
			}
			rep := soak.Report{Mode: f.mode(), Counts: counts}
			fmt.Fprintln(c.OutOrStdout(), rep)
			if rep.Failed() {
				return cli.Failure(fmt.Errorf("the output or the tables break %s's promise: see the lines above", rep.Mode))
			}
			return nil
		},
	}
	fs := c.Flags()
	fs.StringSliceVar(&brokers, "brokers", nil, "seed brokers, as `host:port,...`")
	f.add(c)
	return c
}
