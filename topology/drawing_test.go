package topology_test

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/topology"
)

// TestDrawing pins the structure tools draw from: names as declared (no
// escaping), node kinds, the external flag and every edge kind.
func TestDrawing(t *testing.T) {
	d := oddGraph().Drawing()
	if d.Name != `odd\names` {
		t.Errorf("Name = %q, want %q", d.Name, `odd\names`)
	}
	wantNodes := []topology.DrawingNode{
		{ID: "topic:in.v1", Name: "in.v1", Kind: "stream", External: true},
		{ID: "topic:in-v1", Name: "in-v1", Kind: "stream", External: true},
		{ID: `agent:say "hi" #1`, Name: `say "hi" #1`, Kind: "agent"},
		{ID: "topic:end", Name: "end", Kind: "stream"},
		{ID: "topic:billing-table", Name: "billing-table", Kind: "table", External: true},
		{ID: `topic:say "hi" #1-dlq`, Name: `say "hi" #1-dlq`, Kind: "dlq"},
		{ID: "agent:end", Name: "end", Kind: "agent"},
		{ID: "topic:end-dlq", Name: "end-dlq", Kind: "dlq"},
	}
	if !slices.Equal(d.Nodes, wantNodes) {
		t.Errorf("Nodes =\n%+v\nwant\n%+v", d.Nodes, wantNodes)
	}
	wantEdges := []topology.DrawingEdge{
		{From: "topic:in.v1", To: `agent:say "hi" #1`, Kind: "input"},
		{From: "topic:in-v1", To: `agent:say "hi" #1`, Kind: "input"},
		{From: `agent:say "hi" #1`, To: "topic:end", Kind: "output"},
		{From: "topic:billing-table", To: `agent:say "hi" #1`, Kind: "lookup"},
		{From: `agent:say "hi" #1`, To: `topic:say "hi" #1-dlq`, Kind: "dlq"},
		{From: "topic:end", To: "agent:end", Kind: "input"},
		{From: "agent:end", To: "topic:end-dlq", Kind: "dlq"},
	}
	if !slices.Equal(d.Edges, wantEdges) {
		t.Errorf("Edges =\n%+v\nwant\n%+v", d.Edges, wantEdges)
	}
}
