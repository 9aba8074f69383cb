package benchmarks

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// brokerProcess is sluice's embedded broker in a process of its own (the
// sluice binary's broker command), stopped and started again on one address
// and data dir, as a Kafka cluster beside a service is: a service measured
// with the broker in its own process shares its heap, its goroutines and
// its CPU time with the broker's, which is not what a deployment does.
type brokerProcess struct {
	bin, addr, dir, log string
	cmd                 *exec.Cmd
	exited              chan struct{}
}

// startBrokerProcess starts a broker process that stops when tb ends.
func startBrokerProcess(tb testing.TB) *brokerProcess {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := tb.TempDir()
	p := &brokerProcess{bin: program(tb, "../cmd/sluice"), addr: addr, dir: dir, log: filepath.Join(dir, "broker.log")}
	p.Start(tb)
	tb.Cleanup(p.Stop)
	return p
}

// Addrs returns the broker's address.
func (p *brokerProcess) Addrs() []string { return []string{p.addr} }

// Start starts the broker on its address and data dir and waits until it
// answers.
func (p *brokerProcess) Start(tb testing.TB) {
	tb.Helper()
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(p.bin, "broker", "--listen", p.addr, "--data-dir", p.dir, "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start the broker process: %v", err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(p.cmd, p.exited)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cl.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log)
			tb.Fatalf("the broker process exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the broker process on %s did not answer within 30 s: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the broker as SIGTERM does (it writes its state and exits),
// killing it after 30 s.
func (p *brokerProcess) Stop() {
	if p.cmd == nil {
		return
	}
	terminate(p.cmd.Process, p.exited)
	p.cmd = nil
}

// builtBinary is a program of this module, built once per test binary.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// built holds the programs [program] built, by package directory.
var built sync.Map

// program returns the path of the program in pkg, a directory relative to
// this package's (../cmd/sluice, ./loadgen), built once per test binary,
// without the race detector.
func program(tb testing.TB, pkg string) string {
	tb.Helper()
	v, _ := built.LoadOrStore(pkg, new(builtBinary))
	b := v.(*builtBinary)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}
