// Command lookupsvc is a sluice binary built around the topology of
// BenchmarkFeatureLookup (package lookupbench), as a user builds one with
// cli.Main: the benchmark runs its serve command, the lookup service as it
// is deployed, in a process of its own.
//
//	lookupsvc serve --tables features-table --brokers 127.0.0.1:9092 --http 127.0.0.1:8081
package main

import (
	"fmt"
	"os"

	"github.com/sluicehq/sluice/benchmarks/internal/lookupbench"
	"github.com/sluicehq/sluice/cli"
)

func main() {
	g, err := lookupbench.Graph()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lookupsvc:", err)
		os.Exit(2)
	}
	cli.Main(g)
}
