package cli_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// TestTwoGraphsOneProcess runs two graphs in one process, each with its
// live page, as a program embedding two topologies does, and pins that each
// page's /metrics reports its own graph's agents, their consumer lag
// included, and none of the other's: each run has its own registry and lag
// source, where a process-wide one let the second overwrite the first.
func TestTwoGraphsOneProcess(t *testing.T) {
	views := topology.Stream[click]{Name: "views", Codec: topology.JSON[click]()}
	tally := topology.Agent[struct{}]{Name: "tally", Inputs: []topology.Input[struct{}]{topology.Consume(views,
		func(*topology.Context[struct{}], string, click) error { return nil })}}
	second := &topology.Graph{Name: "views", Sources: []topology.Topic{views}, Agents: []topology.AgentDecl{tally}, Partitions: 2}

	ctx, cancel := context.WithCancel(context.Background())
	type running struct {
		agent, other string
		stderr       *proctest.Buffer
		done         chan int
	}
	start := func(g *topology.Graph, agent, other string) *running {
		r := &running{agent: agent, other: other, stderr: new(proctest.Buffer), done: make(chan int, 1)}
		cmd := cli.Command(g)
		cmd.SetOut(io.Discard)
		cmd.SetErr(r.stderr)
		go func() {
			r.done <- cli.Execute(ctx, cmd, []string{"run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0"})
		}()
		return r
	}
	runs := []*running{start(testGraph(), "counter", "tally"), start(second, "tally", "counter")}
	defer func() {
		cancel()
		for _, r := range runs {
			select {
			case code := <-r.done:
				if code != cli.ExitOK {
					t.Errorf("run of %s exited %d, want 0; stderr:\n%s", r.agent, code, r.stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Errorf("run of %s did not stop within 60s", r.agent)
			}
		}
	}()

	for _, r := range runs {
		var base string
		deadline := time.Now().Add(60 * time.Second)
		for base == "" {
			if m := liveURL.FindStringSubmatch(r.stderr.String()); m != nil {
				base = m[1]
			} else if time.Now().After(deadline) {
				t.Fatalf("run of %s logged no live page within 60s:\n%s", r.agent, r.stderr.String())
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		own := `sluice_consumer_lag_records{agent="` + r.agent + `"`
		var body string
		for deadline := time.Now().Add(60 * time.Second); ; {
			resp, err := http.Get(base + "metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); strings.Contains(body, own) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%smetrics never reported %s's lag:\n%s", base, r.agent, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if strings.Contains(body, `agent="`+r.other+`"`) {
			t.Errorf("%smetrics of the graph of %s reports the other graph's agent %s:\n%s", base, r.agent, r.other, body)
		}
	}
}
