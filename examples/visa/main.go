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
// all, run and replay --decider llm have the levels ask a model on an
// OpenAI-compatible server, with --concurrency calls in flight per partition.
package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/examples/visa/visa"
)

func main() { program.Main() }

// program is visa's command line. With no arguments it runs the all command.
var program = cli.Program{Build: command, Args: func(args []string) []string {
	if len(args) == 0 {
		return []string{"all"}
	}
	return args
}}

// command returns the root command: the sluice command line of the whole visa
// graph plus all, demo, routes, trace and replay, with run's --decider and
// --concurrency flags (see cmd_llm.go); run with level A writes the default
// routes to a routing table that never had one (seed.go). Their errors while running are wrapped in cli.Failure
// (exit status 1); package cli treats other errors as usage errors (status 2).
func command() (root *cobra.Command, err error) {
	slot := new(deciderSlot) // the rules, unless run's --decider says otherwise
	g, err := visa.Graph(slot)
	if err != nil {
		return nil, err
	}
	root = cli.Command(g)
	root.AddCommand(allCommand(), demoCommand(), routesCommand(g))
	root.AddCommand(traceCommand(), replayCommand())
	wireDecider(root, g, slot)
	wireSeedRoutes(root)
	return root, nil
}

// failing returns a cobra RunE that runs run and returns its error as a
// cli.Failure. Flag mistakes are found before run is called and returned as usage
// errors.
func failing(check func() error, run func(c *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unexpected argument %q: '%s' takes flags only", args[0], c.CommandPath())
		}
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		return cli.Failure(run(c))
	}
}
