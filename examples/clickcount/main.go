// Command clickcount counts page views per user, live: a generator writes clicks
// to the "clicks" topic, the click-counter agent counts them per user in a Pebble
// table backed by a compacted changelog, and the click-dashboard agent follows the
// counts that this program prints every second.
//
// With no flags it starts an embedded Kafka-protocol broker in ./sluice-data; with
// --brokers it runs against a Kafka cluster. Stop it with Ctrl-C; run it again and
// the counts go on from where they were.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/topology"
)

type config struct {
	brokers  string
	dataDir  string
	listen   string
	rate     int
	users    int
	duration time.Duration
}

func main() {
	var c config
	fs := flag.NewFlagSet("clickcount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.brokers, "brokers", "", "Kafka seed brokers, host:port[,host:port...] (default: an embedded broker)")
	fs.StringVar(&c.dataDir, "data-dir", "sluice-data/clickcount", "directory for tables and the embedded broker's log")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:9092", "address of the embedded broker")
	fs.IntVar(&c.rate, "rate", 200, "clicks per second to generate (0: none)")
	fs.IntVar(&c.users, "users", 8, "number of distinct users")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "clickcount: %v (flags: -brokers -data-dir -listen -rate -users -duration)\n", err)
		os.Exit(2)
	}
	if c.rate < 0 || c.users < 1 {
		fmt.Fprintln(os.Stderr, "clickcount: -rate must be >= 0 and -users >= 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "clickcount: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var board Board
	g := Graph(&board)
	ready := make(chan []string, 1)
	opts := []topology.Option{
		topology.DataDir(c.dataDir),
		topology.EmbeddedListen(c.listen),
		topology.WithLogger(log),
		topology.OnProvisioned(func(addrs []string) { ready <- addrs }),
	}
	if c.brokers != "" {
		opts = append(opts, topology.Brokers(strings.Split(c.brokers, ",")...))
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return topology.Run(ctx, g, opts...) })
	eg.Go(func() error {
		select {
		case addrs := <-ready:
			fmt.Fprintf(out, "broker %s ready; generating %d clicks/s over %d users (Ctrl-C stops)\n", strings.Join(addrs, ","), c.rate, c.users)
			return generate(ctx, addrs, c)
		case <-ctx.Done():
			return nil
		}
	})
	eg.Go(func() error { return print(ctx, &board, out) })
	return eg.Wait()
}

// generate writes c.rate clicks per second until ctx is done.
func generate(ctx context.Context, addrs []string, c config) error {
	if c.rate == 0 {
		return nil
	}
	em, err := topology.NewEmitter(Clicks, topology.Brokers(addrs...))
	if err != nil {
		return err
	}
	pages := []string{"/", "/pricing", "/docs", "/blog"}
	tick := time.NewTicker(time.Second / time.Duration(c.rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return em.Close()
		case <-tick.C:
			user := fmt.Sprintf("user-%d", rand.IntN(c.users))
			if err := em.Send(user, Click{User: user, Page: pages[rand.IntN(len(pages))]}); err != nil {
				return errors.Join(err, em.Close())
			}
		}
	}
}

// print writes the counts every second.
func print(ctx context.Context, b *Board, out io.Writer) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			counts := b.Snapshot()
			users := make([]string, 0, len(counts))
			var total int64
			for u, n := range counts {
				users = append(users, u)
				total += n
			}
			slices.Sort(users)
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s  total %d:", time.Now().Format(time.TimeOnly), total)
			for _, u := range users {
				fmt.Fprintf(&sb, " %s=%d", u, counts[u])
			}
			fmt.Fprintln(out, sb.String())
		}
	}
}
