package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/topology"
)

// describeCommand returns the describe command, which prints g.Describe().
func describeCommand(g *topology.Graph) *cobra.Command {
	c := &cobra.Command{
		Use:   "describe",
		Short: "Print the topology's agents, topics and routes",
		Long: `Describe prints the topology: its agents with their inputs, outputs, tables and
dead-letter topics, and the streams that connect it to the world. An invalid
topology is printed, then reported (exit status 2).`,
	}
	return leaf(c, func(c *cobra.Command) error {
		return printDrawing(c.OutOrStdout(), g, g.Describe())
	})
}

// graphCommand returns the graph command, which prints g drawn as Mermaid or DOT.
func graphCommand(g *topology.Graph) *cobra.Command {
	format := newChoice("mermaid", "mermaid", "dot")
	c := &cobra.Command{
		Use:   "graph",
		Short: "Print the topology as a Mermaid or Graphviz DOT drawing",
		Long: `Graph prints the topology as a drawing: a Mermaid flowchart (paste it into
Markdown on GitHub, or https://mermaid.live) or Graphviz DOT (pipe it to
'dot -Tsvg'). An invalid topology is printed, then reported (exit status 2).`,
		Example: "  " + programName() + " graph --format dot | dot -Tsvg > topology.svg",
	}
	c.Flags().Var(format, "format", "drawing language")
	return leaf(c, func(c *cobra.Command) error {
		s := g.Mermaid()
		if format.value == "dot" {
			s = g.DOT()
		}
		return printDrawing(c.OutOrStdout(), g, s)
	})
}

// printDrawing writes s to w, ending in a newline, and then reports g's problems: a
// drawing of an invalid graph is how one finds what is wrong with it.
func printDrawing(w io.Writer, g *topology.Graph, s string) error {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if _, err := io.WriteString(w, s); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return invalidGraph(err)
	}
	return nil
}
