package observe_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

type click struct {
	Page string `json:"page"`
}

// tally is the counter's state: a JSON value, so that lookups show a struct.
type tally struct {
	Count int64  `json:"count"`
	Last  string `json:"last"`
}

var (
	clicks = topology.Stream[click]{Name: "clicks", Codec: topology.JSON[click]()}
	counts = topology.Stream[int64]{Name: "counts", Codec: topology.Int64()}
)

// testGraph is two agents: counter counts each user's clicks in a JSON table
// and emits the new count; auditor reads the counts and looks the counter's
// table up. A click that is not JSON goes to counter-dlq.
func testGraph() *topology.Graph {
	counter := topology.Agent[tally]{
		Name:  "counter",
		State: topology.JSON[tally](),
		Inputs: []topology.Input[tally]{topology.Consume(clicks,
			func(c *topology.Context[tally], user string, in click) error {
				t, _, err := c.State()
				if err != nil {
					return err
				}
				t.Count++
				t.Last = in.Page
				if err := c.SetState(t); err != nil {
					return err
				}
				return topology.Emit(c, counts, user, t.Count)
			})},
		Outputs: []topology.Topic{counts},
	}
	auditor := topology.Agent[struct{}]{
		Name: "auditor",
		Inputs: []topology.Input[struct{}]{topology.Consume(counts,
			func(*topology.Context[struct{}], string, int64) error { return nil })},
		Lookups: []topology.Topic{counter.Table()},
	}
	return &topology.Graph{
		Name:       "clicks",
		Sources:    []topology.Topic{clicks},
		Agents:     []topology.AgentDecl{counter, auditor},
		Partitions: 2,
	}
}

// runGraph runs the agents named of g on addrs until the returned stop is
// called (or the test ends), failing the test if Run fails.
func runGraph(t *testing.T, g *topology.Graph, addrs []string, dir string, agents ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- topology.Run(ctx, g, topology.Brokers(addrs...), topology.DataDir(dir), topology.Agents(agents...))
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("topology.Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("topology.Run did not return within 60s of its context's end")
		}
	}
	t.Cleanup(stop)
	return stop
}

// startBroker starts an embedded broker with the graph's topics and returns
// its addresses and a kadm client on it.
func startBroker(t *testing.T, g *topology.Graph) ([]string, *kgo.Client) {
	t.Helper()
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	if _, err := topology.Provision(t.Context(), g, topology.Brokers(addrs...)); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return addrs, kafkatest.Client(t, addrs)
}

// produceClicks writes n clicks of users u0..u(users-1) to the clicks topic.
func produceClicks(t *testing.T, addrs []string, n, users int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "u%d", i%users), Value: fmt.Appendf(nil, `{"page":"/p%d"}`, i)}
	}
	kafkatest.Produce(t, addrs, clicks.Name, recs...)
}

// waitFor calls cond every 20 ms until it returns nil, failing t with the last
// error after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || t.Context().Err() != nil {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		select {
		case <-t.Context().Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var errNotYet = errors.New("not yet")

func dataDir(t *testing.T, name string) string { return filepath.Join(t.TempDir(), name) }
