package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// module is sluice's module path, looked up in the build information.
const module = "github.com/sluicehq/sluice"

// versionCommand returns the version command, which prints the versions of the
// program, of sluice and of Go it was built with.
func versionCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of this program, sluice and Go",
	}
	return leaf(c, func(c *cobra.Command) error {
		prog, sluice := "(unknown)", "(unknown)"
		if bi, ok := debug.ReadBuildInfo(); ok {
			prog = bi.Main.Path + " " + bi.Main.Version
			if bi.Main.Path == module {
				sluice = bi.Main.Version
			}
			for _, d := range bi.Deps {
				if d.Path == module {
					sluice = d.Version
				}
			}
		}
		_, err := fmt.Fprintf(c.OutOrStdout(), "%s %s\nsluice %s\n%s\n", c.Root().Name(), prog, sluice, runtime.Version())
		return err
	})
}
