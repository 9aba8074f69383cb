// Command visa runs the visa scrutiny pipeline: applications enter on
// visa-applications-in, level A checks the passport and completeness and writes
// a routing slip from the routing table (the compacted topic visa-routes), and
// each level after it (B funds, C invitation letter, D prior refusals and risk,
// E medical) checks its part and sends the application to the next queue on its
// slip, until one ends its path on final-decisions-out. See package visa and
// README.md.
//
// With no command, visa runs everything in one process, as 'make run' does: the
// embedded broker, every level, and a generator of applications; it prints
// progress every second and a summary once every application has an outcome:
//
//	go run ./examples/visa
//	go run ./examples/visa all --count 2000 --rate 500 --mix tourist=40,business=30,student=20,work=10 --route work=B,E,D
//
// Run as separate processes, a level per process, like any sluice binary:
//
//	go run ./examples/visa broker
//	go run ./examples/visa routes --brokers 127.0.0.1:9092
//	go run ./examples/visa run --agents level-a --brokers 127.0.0.1:9092 --data-dir sluice-data/visa-a
//	go run ./examples/visa run --agents level-b --brokers 127.0.0.1:9092 --data-dir sluice-data/visa-b1
//	go run ./examples/visa demo --brokers 127.0.0.1:9092 --count 1000 --rate 200
//
// Besides the commands of every sluice binary (run, describe, graph, topics,
// broker, version; see package cli), it has all, demo, routes, trace and replay;
// run --decider llm has the levels ask a model on an OpenAI-compatible server.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line args and returns the exit status: that of
// cli.Execute, or cli.ExitFailure when one of this program's own commands failed
// while running. With no arguments it runs the all command.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"all"}
	}
	root, failed, err := command()
	if err != nil {
		fmt.Fprintf(stderr, "visa: %v\n", err)
		return cli.ExitUsage
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	code := cli.Execute(ctx, root, args)
	if code == cli.ExitOK && *failed != nil {
		fmt.Fprintf(stderr, "%s: %v\n", root.Name(), *failed)
		return cli.ExitFailure
	}
	return code
}

// command returns the root command: the sluice command line of the whole visa
// graph plus all, demo, routes, trace and replay, with run's --decider flags
// (see cmd_llm.go). An error of those while running is stored in
// *failed rather than returned: package cli reports the errors of commands it
// did not make as usage errors (exit status 2), and a failure is not one.
func command() (root *cobra.Command, failed *error, err error) {
	slot := new(deciderSlot) // the rules, unless run's --decider says otherwise
	g, err := visa.Graph(slot)
	if err != nil {
		return nil, nil, err
	}
	failed = new(error)
	root = cli.Command(g)
	root.AddCommand(allCommand(failed), demoCommand(failed), routesCommand(g, failed))
	root.AddCommand(traceCommand(failed), replayCommand(failed))
	wireDecider(root, slot)
	return root, failed, nil
}

// failing returns a cobra RunE that runs run and stores its error in *failed.
// Flag mistakes are found before run is called and returned as usage errors.
func failing(failed *error, check func() error, run func(c *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unexpected argument %q: '%s' takes flags only", args[0], c.CommandPath())
		}
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		*failed = run(c)
		return nil
	}
}
