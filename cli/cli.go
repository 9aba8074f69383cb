package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/topology"
)

// Exit statuses of [Main] and [Execute].
const (
	// ExitOK: the command finished, or stopped cleanly on SIGINT or SIGTERM.
	ExitOK = 0
	// ExitFailure: the command failed while running.
	ExitFailure = 1
	// ExitUsage: a flag, an environment variable or the topology is wrong, and
	// nothing ran.
	ExitUsage = 2
)

// Main runs the command line of a binary built around g and exits with its
// status (see [ExitOK], [ExitFailure], [ExitUsage]). It reads the arguments from
// os.Args and stops the running command gracefully on the first SIGINT or
// SIGTERM; a second one kills the process. With a nil g, only the commands that
// need no topology exist (broker, version). Main does not return. It is
// [Program.Main] of a program whose root command is [Command](g).
func Main(g *topology.Graph) {
	Program{Build: func() (*cobra.Command, error) { return Command(g), nil }}.Main()
}

// Program is the command line of a binary whose root command is more than
// [Command] of a graph: commands of its own, a default command. Its main is
// one line, program.Main(), and its tests call [Program.Run].
type Program struct {
	// Build returns the root command, usually [Command] of the binary's graph
	// with the binary's own commands added. Its error is reported as a usage
	// error: nothing ran.
	Build func() (*cobra.Command, error)
	// Args, if set, rewrites the command line's arguments before they run,
	// for example to run a default command when none is named.
	Args func(args []string) []string
}

// Main runs p with the arguments of os.Args, stops the running command
// gracefully on the first SIGINT or SIGTERM (a second one kills the
// process), and exits with the status of [Program.Run]. It does not return.
func (p Program) Main() {
	ctx, stop := SignalContext()
	code := p.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run runs p's command line args (not including the program name) with ctx,
// writing to stdout and stderr, and returns the exit status as [Execute]
// does; [ExitUsage] if Build fails.
func (p Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if p.Args != nil {
		args = p.Args(args)
	}
	if p.Build == nil {
		fmt.Fprintf(stderr, "%s: cli.Program has no Build function\n", programName())
		return ExitUsage
	}
	root, err := p.Build()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName(), err)
		return ExitUsage
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	return Execute(ctx, root, args)
}

// SignalContext returns a context that the first SIGINT or SIGTERM cancels,
// for a main that runs a command with [Execute]; a second signal kills the
// process. Call stop when the command has returned.
func SignalContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore the default handling, so a second signal kills at once
	}()
	return ctx, stop
}

// Execute runs cmd, a command from [Command], with ctx and args (not including
// the program name). It prints an error as a single line on cmd's error output,
// prefixed by cmd's name, and returns the exit status: [ExitUsage] for a mistake
// in flags, environment or topology, [ExitFailure] for a failure while running,
// [ExitOK] otherwise. run and broker return ExitOK after a clean stop caused by
// ctx; a command that ctx interrupts before it finishes (topics) fails.
func Execute(ctx context.Context, cmd *cobra.Command, args []string) int {
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	msg, code := explain(cmd, err)
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", cmd.Name(), msg)
	return code
}

// Command returns the root command of a binary built around g, for [Execute] and
// for embedding in a larger command line. Its name is the program's (os.Args[0]).
// With a nil g it has only the commands that need no topology: broker and
// version. Errors are not printed by cobra: run it with [Execute], or print them
// yourself.
func Command(g *topology.Graph) *cobra.Command {
	root := &cobra.Command{
		Use:                        programName(),
		Short:                      short(g),
		Args:                       cobra.ArbitraryArgs, // unknown commands are reported by RunE
		SilenceUsage:               true,
		SilenceErrors:              true,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
		SuggestionsMinimumDistance: 2,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return unknownCommand(c, args[0])
		},
	}
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(brokerCommand(), versionCommand())
	if g != nil {
		root.AddCommand(runCommand(g), describeCommand(g), graphCommand(g), topicsCommand(g), lagCommand(g), serveCommand(g))
	}
	root.Long = long(g, envNames(root))
	return root
}

// programName returns the name the binary was started as.
func programName() string {
	if len(os.Args) == 0 {
		return "sluice"
	}
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
}

func short(g *topology.Graph) string {
	if g == nil {
		return "Tools for sluice topologies: an embedded Kafka-protocol broker"
	}
	return fmt.Sprintf("Run and inspect the %q topology", g.Name)
}

func long(g *topology.Graph, env []string) string {
	var b strings.Builder
	if g == nil {
		b.WriteString(`The generic sluice binary. Build a binary around a topology with cli.Main(graph)
to run, describe, draw and provision it; this one runs the embedded broker.
`)
	} else {
		fmt.Fprintf(&b, `Runs the agents of the %q topology on Kafka, draws it and creates its topics.
Without --brokers, run and topics start an embedded Kafka-protocol broker in the
data directory, which any Kafka client can use.
`, g.Name)
	}
	b.WriteString(`
Every flag can also be set in the environment, as SLUICE_ and the flag's name in
upper case with dashes as underscores; a flag on the command line wins:
  ` + strings.Join(env, ", ") + `

Exit status: 0 on success or after a clean stop on SIGINT or SIGTERM, 1 when a
command fails while running, 2 for a bad flag, environment variable or topology.`)
	return b.String()
}

// envNames returns the sorted environment variables that the flags of root's
// commands read.
func envNames(root *cobra.Command) []string {
	var names []string
	for _, c := range root.Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if n := envName(f.Name); f.Name != "help" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		})
	}
	slices.Sort(names)
	return names
}

// unknownCommand reports a command name c does not have, suggesting close ones.
func unknownCommand(c *cobra.Command, name string) error {
	if s := c.SuggestionsFor(name); len(s) > 0 {
		return usagef("unknown command %q: did you mean %q? See '%s --help'", name, s[0], c.CommandPath())
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usagef("unknown command %q: use one of %s", name, strings.Join(names, ", "))
}

// leaf finishes a command that takes no arguments: it reads unset flags from the
// environment before running, documents that in --help, and marks the errors of
// run as failures unless they are already usage errors.
func leaf(c *cobra.Command, run func(c *cobra.Command) error) *cobra.Command {
	documentEnv(c)
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q: '%s' takes flags only, see '%s --help'", args[0], c.CommandPath(), c.CommandPath())
		}
		return nil
	}
	c.PreRunE = func(c *cobra.Command, _ []string) error { return applyEnv(c) }
	c.RunE = func(c *cobra.Command, _ []string) error {
		err := run(c)
		if err == nil {
			return nil
		}
		if _, ok := err.(*usageError); ok {
			return err
		}
		return &failure{err: err}
	}
	return c
}
