// Command fraud scores payment requests for fraud, live, from features
// computed over streams of clicks and transactions: a generator writes clicks,
// transactions and payment requests per user; three window agents compute
// each user's clicks_5m, txn_count_1h, avg_txn_value_1h and max_txn_value_24h
// on event time; the feature store keeps the latest vector per user in a
// compacted table; and the scorer joins each payment request with its user's
// vector and scores it with a logistic regression (model/fraud.json), writing
// a prediction to the predictions topic. See README.md.
//
// With no command, or with flags only, fraud runs everything in one process
// on the embedded broker and prints a summary every second and a final one
// once every request is scored:
//
//	go run ./examples/fraud
//	go run ./examples/fraud --count 5000 --rate 500 --users 2000 --seed 7
//
// Besides all, it has the commands of every sluice binary (run, describe,
// graph, topics, broker, version; see package cli).
package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
)

func main() { program.Main() }

// program is fraud's command line. With no arguments, or flags only, it runs
// the all command.
var program = cli.Program{Build: command, Args: func(args []string) []string {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help") {
		return append([]string{"all"}, args...)
	}
	return args
}}

// command returns the root command: the sluice command line of the fraud graph
// (with the compiled-in model) plus all.
func command() (*cobra.Command, error) {
	m, err := loadModel("")
	if err != nil {
		return nil, err
	}
	g, err := Graph(m)
	if err != nil {
		return nil, err
	}
	root := cli.Command(g)
	root.AddCommand(allCommand())
	return root, nil
}
