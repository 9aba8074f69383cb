package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// The tests run the test binary itself as the CLI: with envArgs set, TestMain
// runs cli.Main on the graph envGraph names instead of the tests, so every test
// sees real exit statuses, real stderr and real signals.
const (
	envArgs  = "CLI_TEST_ARGS"  // JSON array of the CLI's arguments
	envGraph = "CLI_TEST_GRAPH" // "" for testGraph, "nil", or "invalid"
)

func TestMain(m *testing.M) {
	if js, ok := os.LookupEnv(envArgs); ok {
		var args []string
		if err := json.Unmarshal([]byte(js), &args); err != nil {
			panic(err)
		}
		os.Args = append([]string{"sluice"}, args...)
		if os.Getenv(envGraph) == "shortsession" {
			shortSessionMain()
		}
		cli.Main(graphNamed(os.Getenv(envGraph)))
	}
	// TestDrive runs processors in this process.
	goleak.VerifyTestMain(kafkareal.Main(m))
}

type click struct {
	Page string `json:"page"`
}

var (
	clicks = topology.Stream[click]{Name: "clicks", Codec: topology.JSON[click]()}
	counts = topology.Stream[int64]{Name: "counts", Codec: topology.Int64()}
)

// testGraph is a small valid graph: a source stream, an agent that counts the
// clicks of each user in its table and emits each new count to a sink.
func testGraph() *topology.Graph {
	counter := topology.Agent[int64]{
		Name:  "counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(clicks,
			func(c *topology.Context[int64], user string, _ click) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return topology.Emit(c, counts, user, n+1)
			})},
		Outputs: []topology.Topic{counts},
	}
	return &topology.Graph{
		Name:       "clickcount",
		Sources:    []topology.Topic{clicks},
		Sinks:      []topology.Topic{counts},
		Agents:     []topology.AgentDecl{counter},
		Partitions: 2,
	}
}

func graphNamed(name string) *topology.Graph {
	switch name {
	case "nil":
		return nil
	case "invalid":
		return &topology.Graph{Name: "broken", Agents: []topology.AgentDecl{topology.Agent[struct{}]{Name: "idle"}}}
	}
	return testGraph()
}

// proc is a running CLI process.
type proc struct {
	*proctest.Proc
	t              *testing.T
	stdout, stderr proctest.Buffer
}

// start starts the CLI built around the graph named graph (see graphNamed) with
// args and env added to the environment (see proctest.Start).
func start(t *testing.T, graph string, env []string, args ...string) *proc {
	t.Helper()
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{envArgs + "=" + string(js), envGraph + "=" + graph}, env...)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	p.Proc = proctest.Start(t, fmt.Sprintf("sluice %v", args), cmd, &p.stderr)
	return p
}

// run runs the CLI to completion and returns its output and exit status.
func run(t *testing.T, graph string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := start(t, graph, env, args...)
	code = p.wait(30 * time.Second)
	return p.stdout.String(), p.stderr.String(), code
}

// wait waits up to timeout for the process to exit and returns its status,
// failing the test if a signal killed it.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	code := p.Wait(timeout)
	if code == -1 {
		p.t.Fatalf("process did not exit normally: %s; stderr:\n%s", p.State(), p.stderr.String())
	}
	return code
}

// stop sends SIGTERM and returns the exit status, failing if the process takes
// longer than timeout to exit.
func (p *proc) stop(timeout time.Duration) int {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	return p.wait(timeout)
}

// waitLog waits up to timeout for a line of stderr to match re and returns the
// submatches of the first such line. It fails if the process exits first.
func (p *proc) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.Done():
			if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
				return m
			}
			p.t.Fatalf("process exited (%s) before logging %q; stderr:\n%s", p.State(), re, p.stderr.String())
		case <-deadline.C:
			p.t.Fatalf("no log line matching %q within %v; stderr:\n%s", re, timeout, p.stderr.String())
		case <-p.t.Context().Done():
			p.t.Fatalf("test ended before a log line matched %q", re)
		case <-tick.C:
		}
	}
}

// brokerAddr matches the address the CLI logs for an embedded broker.
var brokerAddr = regexp.MustCompile(`(?m) addr=(\S+)`)
