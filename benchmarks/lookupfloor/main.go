// Command lookupfloor is the floor of BenchmarkFeatureLookup: a plain
// net/http server answering GET /features/{entity} with the bodies the
// lookup service answers (package lookupbench), from a Go map, with the
// serve command's server settings, in a process of its own as the lookup
// service is: what HTTP on loopback costs on this machine, the floor of any
// lookup service. It prints "listening on http://ADDR/" on stdout once it
// listens, and serves until SIGINT or SIGTERM.
//
//	lookupfloor -http 127.0.0.1:0 -entities 100000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/benchmarks/internal/lookupbench"
)

func main() {
	addr := flag.String("http", "127.0.0.1:0", "serve on `host:port`")
	entities := flag.Int("entities", 100_000, "answer for entities e0 .. e`N-1`")
	flag.Parse()
	if *entities <= 0 {
		fmt.Fprintf(os.Stderr, "lookupfloor: -entities %d: want at least 1\n", *entities)
		os.Exit(2)
	}
	answers := make(map[string][]byte, *entities)
	for i := range *entities {
		answers[lookupbench.Entity(i)] = lookupbench.Answer(i)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lookupfloor:", err)
		os.Exit(1)
	}
	contentType := []string{"application/json"}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, ok := answers[strings.TrimPrefix(r.URL.Path, "/features/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header()["Content-Type"] = contentType
			w.Write(b)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "lookupfloor:", err)
		os.Exit(1)
	}
}
