package observe_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// TestReadGraph pins what the page draws of a graph: every agent and topic
// with its kind, and every edge with its kind, read from topology's Description.
func TestReadGraph(t *testing.T) {
	top, err := observe.ReadGraph(testGraph())
	if err != nil {
		t.Fatal(err)
	}
	if top.Name != "clicks" {
		t.Errorf("name = %q, want clicks", top.Name)
	}
	kinds := map[string]observe.NodeKind{}
	for _, n := range top.Nodes {
		kinds[n.ID] = n.Kind
	}
	want := map[string]observe.NodeKind{
		"topic:clicks":        observe.NodeStream,
		"agent:counter":       observe.NodeAgent,
		"topic:counter-table": observe.NodeTable,
		"topic:counts":        observe.NodeStream,
		"topic:counter-dlq":   observe.NodeDLQ,
		"agent:auditor":       observe.NodeAgent,
		"topic:auditor-dlq":   observe.NodeDLQ,
	}
	if len(kinds) != len(want) {
		t.Errorf("nodes = %v, want %v", kinds, want)
	}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("node %s kind = %q, want %q", id, kinds[id], k)
		}
	}
	edges := map[observe.Edge]bool{}
	for _, e := range top.Edges {
		edges[e] = true
	}
	for _, e := range []observe.Edge{
		{From: "topic:clicks", To: "agent:counter", Kind: "input"},
		{From: "agent:counter", To: "topic:counter-table", Kind: "state"},
		{From: "agent:counter", To: "topic:counts", Kind: "output"},
		{From: "agent:counter", To: "topic:counter-dlq", Kind: "dlq"},
		{From: "topic:counts", To: "agent:auditor", Kind: "input"},
		{From: "topic:counter-table", To: "agent:auditor", Kind: "lookup"},
		{From: "agent:auditor", To: "topic:auditor-dlq", Kind: "dlq"},
	} {
		if !edges[e] {
			t.Errorf("missing edge %+v in %+v", e, top.Edges)
		}
	}
	if got := top.Agents(); !slices.Equal(got, []string{"counter", "auditor"}) {
		t.Errorf("Agents() = %q, want [counter auditor]", got)
	}
	if got := top.Inputs("auditor"); !slices.Equal(got, []string{"counts"}) {
		t.Errorf("Inputs(auditor) = %q, want [counts]: lookups are not inputs", got)
	}
	if got := top.Tables(); !slices.Equal(got, []string{"counter-table"}) {
		t.Errorf("Tables() = %q, want [counter-table]", got)
	}
}

// TestReadGraphLayout pins the drawing's invariants: boxes inside the
// drawing, no two overlapping, and every edge of an acyclic graph running
// left to right, as in Mermaid's flowchart LR.
func TestReadGraphLayout(t *testing.T) {
	top, err := observe.ReadGraph(testGraph())
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]observe.Node{}
	for i, a := range top.Nodes {
		pos[a.ID] = a
		if a.X < 0 || a.Y < 0 || a.X+a.W > top.Width || a.Y+a.H > top.Height || a.W <= 0 || a.H <= 0 {
			t.Errorf("node %s at (%v,%v) size %vx%v is outside the %vx%v drawing", a.ID, a.X, a.Y, a.W, a.H, top.Width, top.Height)
		}
		for _, b := range top.Nodes[i+1:] {
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("nodes %s and %s overlap", a.ID, b.ID)
			}
		}
	}
	for _, e := range top.Edges {
		if from, to := pos[e.From], pos[e.To]; from.X+from.W >= to.X {
			t.Errorf("edge %s -> %s does not run left to right: %v+%v >= %v", e.From, e.To, from.X, from.W, to.X)
		}
	}
}

// TestReadGraphNames pins that names needing DOT escapes (quotes,
// backslashes, colons) come back as declared.
func TestReadGraphNames(t *testing.T) {
	in := topology.Stream[string]{Name: `in"put\x:1`, Codec: topology.String()}
	a := topology.Agent[struct{}]{Name: `odd "agent"`, Inputs: []topology.Input[struct{}]{
		topology.Consume(in, func(*topology.Context[struct{}], string, string) error { return nil })}}
	top, err := observe.ReadGraph(&topology.Graph{Name: `the "graph"`, Sources: []topology.Topic{in}, Agents: []topology.AgentDecl{a}})
	if err != nil {
		t.Fatal(err)
	}
	if top.Name != `the "graph"` {
		t.Errorf("name = %q", top.Name)
	}
	if got := top.Agents(); !slices.Equal(got, []string{`odd "agent"`}) {
		t.Errorf("Agents() = %q", got)
	}
	if got := top.Inputs(`odd "agent"`); !slices.Equal(got, []string{`in"put\x:1`}) {
		t.Errorf("Inputs() = %q", got)
	}
}

// TestReadGraphCycle pins that a cycle (two agents feeding each other)
// still lays out, with boxes apart.
func TestReadGraphCycle(t *testing.T) {
	ping := topology.Stream[string]{Name: "ping", Codec: topology.String()}
	pong := topology.Stream[string]{Name: "pong", Codec: topology.String()}
	nop := func(*topology.Context[struct{}], string, string) error { return nil }
	g := &topology.Graph{Name: "loop", Sources: []topology.Topic{ping}, Agents: []topology.AgentDecl{
		topology.Agent[struct{}]{Name: "a", Inputs: []topology.Input[struct{}]{topology.Consume(ping, nop)}, Outputs: []topology.Topic{pong}},
		topology.Agent[struct{}]{Name: "b", Inputs: []topology.Input[struct{}]{topology.Consume(pong, nop)}, Outputs: []topology.Topic{ping}},
	}}
	top, err := observe.ReadGraph(g)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range top.Nodes {
		for _, b := range top.Nodes[i+1:] {
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("nodes %s and %s overlap", a.ID, b.ID)
			}
		}
	}
}

// TestNewServerNilGraph pins the error for a nil graph.
func TestNewServerNilGraph(t *testing.T) {
	if _, err := observe.NewServer(nil); !errors.Is(err, observe.ErrBadGraph) {
		t.Fatalf("NewServer(nil) = %v, want ErrBadGraph", err)
	}
}

// TestReadGraphTimers pins how the page draws an agent with timers: its
// timers topic is a node of kind timers, with an edge of kind timers from the
// agent, drawn as a cylinder; it is no table to look up.
func TestReadGraphTimers(t *testing.T) {
	g := testGraph()
	g.Agents = append(g.Agents, topology.Agent[struct{}]{
		Name: "reminder",
		Inputs: []topology.Input[struct{}]{topology.Consume(counts,
			func(c *topology.Context[struct{}], _ string, _ int64) error {
				return c.SetTimer(topology.Timer{Name: "t", At: c.Now()})
			})},
		OnTimer: func(*topology.Context[struct{}], string, topology.Timer) error { return nil },
	})
	top, err := observe.ReadGraph(g)
	if err != nil {
		t.Fatal(err)
	}
	var kind observe.NodeKind
	for _, n := range top.Nodes {
		if n.ID == "topic:reminder-timers" {
			kind = n.Kind
		}
	}
	if kind != observe.NodeTimers {
		t.Errorf("reminder-timers kind = %q, want %q", kind, observe.NodeTimers)
	}
	if !slices.Contains(top.Edges, observe.Edge{From: "agent:reminder", To: "topic:reminder-timers", Kind: "timers"}) {
		t.Errorf("no timers edge in %+v", top.Edges)
	}
	if got := top.Tables(); slices.Contains(got, "reminder-timers") {
		t.Errorf("Tables() = %q: the timers topic is no table to look up", got)
	}
	srv, err := observe.NewServer(g)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), `<g class="node topic timers" data-topic="reminder-timers">`) {
		t.Errorf("the page does not draw the timers topic:\n%s", rec.Body.String())
	}
}

// TestReadGraphFolds pins that a pipeline too long for a window folds into
// bands: the drawing is at most MaxDrawingWidth wide, boxes do not overlap,
// and every edge runs left to right within a band or down to a later one.
func TestReadGraphFolds(t *testing.T) {
	nop := func(*topology.Context[struct{}], string, string) error { return nil }
	stage := func(i int) topology.Stream[string] {
		return topology.Stream[string]{Name: fmt.Sprintf("a-rather-long-topic-name-%02d", i), Codec: topology.String()}
	}
	g := &topology.Graph{Name: "chain", Sources: []topology.Topic{stage(0)}, Sinks: []topology.Topic{stage(12)}}
	for i := range 12 {
		g.Agents = append(g.Agents, topology.Agent[struct{}]{Name: fmt.Sprintf("stage-%02d", i),
			Inputs: []topology.Input[struct{}]{topology.Consume(stage(i), nop)}, Outputs: []topology.Topic{stage(i + 1)}})
	}
	top, err := observe.ReadGraph(g)
	if err != nil {
		t.Fatal(err)
	}
	if top.Width > observe.MaxDrawingWidth {
		t.Errorf("drawing is %v px wide, want at most %v", top.Width, observe.MaxDrawingWidth)
	}
	pos := map[string]observe.Node{}
	bands := map[int]bool{}
	for i, a := range top.Nodes {
		pos[a.ID] = a
		bands[a.Band()] = true
		if a.X < 0 || a.Y < 0 || a.X+a.W > top.Width || a.Y+a.H > top.Height {
			t.Errorf("node %s at (%v,%v) size %vx%v is outside the %vx%v drawing", a.ID, a.X, a.Y, a.W, a.H, top.Width, top.Height)
		}
		for _, b := range top.Nodes[i+1:] {
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("nodes %s and %s overlap", a.ID, b.ID)
			}
		}
	}
	if len(bands) < 2 {
		t.Errorf("%d bands, want the 25 columns folded", len(bands))
	}
	for _, e := range top.Edges {
		from, to := pos[e.From], pos[e.To]
		switch {
		case from.Band() == to.Band() && from.X+from.W < to.X:
		case from.Band() < to.Band() && from.Y+from.H < to.Y:
		default:
			t.Errorf("edge %s -> %s runs neither right in its band nor down to a later band: %+v -> %+v", e.From, e.To, from, to)
		}
	}
}
