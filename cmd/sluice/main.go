// Command sluice is the generic sluice binary. It runs the embedded
// Kafka-protocol broker (sluice broker); binaries built around a topology with
// cli.Main add run, describe, graph and topics.
package main

import "github.com/sluicehq/sluice/cli"

func main() { cli.Main(nil) }
