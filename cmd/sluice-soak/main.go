// Command sluice-soak runs sluice's sequence-check soak (package soak): a
// generator sends per-key sequence numbers through a chain of two stateful
// agents, each in processes of its own, while agent processes are killed and
// restarted, instances come and go and the broker process is killed and
// restarted; then a verifier checks that nothing was lost or reordered, and
// counts duplicates and wrong table entries. The last line it prints is the
// verifier's, machine-readable:
//
//	sluice-soak run --records 200000 --keys 100 --duration-cap 10m
//	records=200000 lost=0 reordered=0 duplicates=412 table_mismatches=0 table_overcounts=37 kills=5 broker_bounces=2 rebalances=4 mode=at-least-once elapsed=4m3s
//
// It exits 1 if the run broke its mode's promise. run starts the processes
// from this same binary:
//
//	sluice-soak broker --listen 127.0.0.1:PORT --data-dir DIR
//	sluice-soak agent --name first --brokers 127.0.0.1:PORT --data-dir DIR/first-1
//
// and verify checks a finished run's topics again.
package main

import (
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
)

func main() { program.Main() }

// program is sluice-soak's command line; without arguments it prints its help.
var program = cli.Program{Build: command, Args: func(args []string) []string {
	if len(args) == 0 {
		return []string{"--help"}
	}
	return args
}}

// command returns the root command: the broker and version commands of every
// sluice binary, and run, agent and verify.
func command() (*cobra.Command, error) {
	root := cli.Command(nil) // broker and version
	root.Short = "Sequence-check soak of sluice: kills, broker bounces and rebalances, then a verifier"
	root.Long = `sluice-soak runs sluice's sequence-check soak. 'run' starts a broker process and
two processes for each of two chained stateful agents, sends records with per-key
sequence numbers, kills and restarts agents and the broker, adds and removes
instances, and then verifies the output and the agents' tables. The other
commands are the processes run starts.

Exit status: 0 on success, 1 when the soak found a loss, a reordering, a wrong
table entry (or a duplicate in exactly-once mode) or could not run, 2 for a bad
flag.`
	root.AddCommand(runCommand(), agentCommand(), verifyCommand())
	return root, nil
}
