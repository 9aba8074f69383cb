// Command kafka runs a single-node Apache Kafka broker (KRaft) on loopback
// for trying sluice on real Kafka: `make kafka`. It fetches Kafka's jars on
// first use (see internal/kafkareal), keeps the broker's data in --data-dir
// across runs, and stops the broker on Ctrl-C or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

func main() {
	dir := flag.String("data-dir", "sluice-data/kafka", "the broker's configuration, data and log (server.log) go in `DIR`")
	port := flag.Int("port", 9092, "client port of a new broker; taken, or 0: a free one (a broker in an existing DIR keeps its ports)")
	heap := flag.String("heap", "512m", "the JVM's maximum heap")
	flag.Parse()
	if err := run(*dir, *port, *heap); err != nil {
		fmt.Fprintf(os.Stderr, "kafka: %v\n", err)
		if errors.Is(err, kafkareal.ErrUnavailable) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(dir string, port int, heap string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := os.Stat(filepath.Join(dir, "cluster.txt")); err != nil && port > 0 && !free(port, port+1) {
		fmt.Fprintf(os.Stderr, "port %d or %d is in use: picking free ports\n", port, port+1)
		port = 0
	}
	fmt.Fprintf(os.Stderr, "starting Apache Kafka %s (one KRaft node) in %s ...\n", kafkareal.Version, dir)
	c, err := kafkareal.Start(ctx, kafkareal.Config{Dir: dir, Port: port, Heap: heap})
	if err != nil {
		return err
	}
	n := c.Node(1)
	fmt.Printf("Apache Kafka %s listening on %s (log: %s)\n", kafkareal.Version, n.Addr, filepath.Join(c.Dir(), "node-1", "server.log"))
	fmt.Printf("try:  go run ./examples/visa all --brokers %s\n", n.Addr)
	fmt.Printf("stop: Ctrl-C here, or kill %d (this process; the broker stops with it); data stays in %s\n", os.Getpid(), dir)
	select {
	case <-ctx.Done():
	case <-n.Exited():
		return fmt.Errorf("the broker exited; see %s", filepath.Join(c.Dir(), "node-1", "server.log"))
	}
	fmt.Fprintln(os.Stderr, "stopping the broker ...")
	return c.Shutdown()
}

// free reports whether every port is free on loopback.
func free(ports ...int) bool {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}
