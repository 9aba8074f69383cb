package lookup_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/lookup"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/processors/featurestore"
	"github.com/sluicehq/sluice/topology"
)

var (
	updates = topology.Stream[featurestore.Update]{Name: "feature-updates", Codec: topology.JSON[featurestore.Update]()}
	clicks  = topology.Stream[string]{Name: "clicks", Codec: topology.String()}
	// raw is a table of bytes of another topology, written by the tests.
	raw = topology.ExternalTable("raw", topology.Bytes())
)

// t0 is the event time of the tests' features.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// testGraph has a feature store (features-table) and a click counter
// (counter-table), and reads raw-table.
func testGraph(t testing.TB) *topology.Graph {
	t.Helper()
	store, err := featurestore.New(featurestore.Config{Name: "features", Updates: updates})
	if err != nil {
		t.Fatal(err)
	}
	counter := topology.Agent[int64]{
		Name:  "counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(clicks, func(c *topology.Context[int64], _ string, _ string) error {
			n, _, err := c.State()
			if err != nil {
				return err
			}
			return c.SetState(n + 1)
		})},
	}
	return &topology.Graph{
		Name:    "lookup-test",
		Sources: []topology.Topic{updates, clicks, raw},
		Agents:  []topology.AgentDecl{store, counter},
	}
}

// sendRound writes feature f = round*100+i for entities e0 .. e(n-1), as of
// t0 plus round minutes.
func sendRound(t testing.TB, addrs []string, n, round int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		u := featurestore.Update{Name: "f", Value: float64(round*100 + i), AsOf: t0.Add(time.Duration(round) * time.Minute)}
		b, err := updates.Codec.Encode(u)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "e%d", i), Value: b}
	}
	kafkatest.Produce(t, addrs, updates.Name, recs...)
}

// running runs g's agents until stop is called or the test ends.
func running(t testing.TB, g *topology.Graph, opts ...topology.Option) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- topology.Run(ctx, g, opts...) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// server is a lookup server under test, behind an httptest server.
type server struct {
	*lookup.Server
	url    string
	client *http.Client
	stop   func()
}

// serve runs a lookup server for tables of g with its own metrics registry,
// until stop is called or the test ends.
func serve(t testing.TB, g *topology.Graph, tables []string, opts ...lookup.Option) *server {
	t.Helper()
	srv, err := lookup.New(g, tables, append([]lookup.Option{lookup.Registry(metrics.New())}, opts...)...)
	if err != nil {
		t.Fatalf("lookup.New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	hs := httptest.NewServer(srv)
	s := &server{Server: srv, url: hs.URL, client: hs.Client()}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Server.Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

// answer is one HTTP answer.
type answer struct {
	code   int
	header http.Header
	body   string
}

func (a answer) String() string { return strconv.Itoa(a.code) + " " + a.body }

// do makes a request to s: a GET without body, a POST with one.
func (s *server) do(t testing.TB, path, body string) (answer, error) {
	method, rd := http.MethodGet, io.Reader(nil)
	if body != "" {
		method, rd = http.MethodPost, strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, rd)
	if err != nil {
		return answer{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, header: resp.Header, body: strings.TrimSpace(string(b))}, err
}

// must is do that fails t on a transport error.
func (s *server) must(t testing.TB, path, body string) answer {
	t.Helper()
	a, err := s.do(t, path, body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return a
}

// waitRound waits until s serves round's values for entities e0 .. e(n-1).
func (s *server) waitRound(t testing.TB, n, round int) {
	t.Helper()
	kafkatest.WaitFor(t, time.Minute, func() bool {
		for i := range n {
			a, err := s.do(t, fmt.Sprintf("/features/e%d", i), "")
			if err != nil || a.code != 200 || !strings.Contains(a.body, fmt.Sprintf(`"value":%d,`, round*100+i)) {
				return false
			}
		}
		return true
	})
}
