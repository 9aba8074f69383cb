package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Main builds the main package in the current directory (the test's) into a
// temporary directory, sets *binary to the path of the binary, runs the
// tests, and then fails them if goroutines were left running. In -short mode
// it builds nothing and leaves *binary empty. The binary has the race
// detector when the test has it. It returns the exit status for os.Exit;
// flag.Parse must have been called. m is the TestMain's *testing.M, or a
// wrapper of it (kafkareal.Main, which stops the package's Kafka cluster
// before the goroutine check).
func Main(m interface{ Run() int }, binary *string) int {
	if !testing.Short() {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		name := filepath.Base(wd)
		dir, err := os.MkdirTemp("", name+"-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		*binary = filepath.Join(dir, name)
		args := []string{"build", "-o", *binary}
		if Race() {
			// The processes run with the race detector too, and the build
			// reuses the packages compiled for this test.
			args = append(args, "-race")
		}
		// go test puts its own go first in PATH.
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running: %v\n", err)
			return 1
		}
	}
	return code
}

// Race reports whether this binary was built with -race.
func Race() bool {
	bi, ok := debug.ReadBuildInfo()
	return ok && slices.Contains(bi.Settings, debug.BuildSetting{Key: "-race", Value: "true"})
}

// NonRacePass skips t in make test's -race pass, saying why: for tests whose
// work happens in child processes built without the race detector (so the
// race pass would repeat the non-race pass's run), that measure a build
// without it, or that mostly wait on an external system (Apache Kafka's
// ACL checks, tens of seconds each) through code whose races other tests
// look for under -race. make test's second pass, without -race, runs them;
// so a test that calls NonRacePass still runs in CI, once.
func NonRacePass(t testing.TB, why string) {
	t.Helper()
	if Race() {
		t.Skip("runs in make test's non-race pass: " + why)
	}
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers: the
// output of a process or command that a test reads while it runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len returns the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
