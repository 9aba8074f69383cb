package observe

import (
	"testing"

	"github.com/sluicehq/sluice/topology"
)

type point2 struct {
	X int `json:"x"`
}

// TestToJSON pins how a table value is shown: decoded with the table's codec
// and marshalled, raw JSON as is, other bytes as a JSON string, and a value
// the codec rejects as an error.
func TestToJSON(t *testing.T) {
	g := &topology.Graph{Agents: []topology.AgentDecl{
		topology.Agent[point2]{Name: "js", State: topology.JSON[point2]()},
		topology.Agent[int64]{Name: "n", State: topology.Int64()},
		topology.Agent[string]{Name: "s", State: topology.String()},
		topology.Agent[[]byte]{Name: "b", State: topology.Bytes()},
		topology.Agent[struct{}]{Name: "stateless"},
	}}
	dec := tableDecoders(g.Description())
	if _, ok := dec["stateless-table"]; ok || len(dec) != 4 {
		t.Fatalf("decoders for %d tables (%v), want js, n, s and b", len(dec), dec)
	}
	n, _ := topology.Int64().Encode(42)
	for _, tc := range []struct {
		name  string
		table string
		in    []byte
		want  string
		err   bool
	}{
		{"json codec", "js-table", []byte(`{"x":1,"extra":2}`), `{"x":1}`, false},
		{"json codec rejects", "js-table", []byte(`{`), "", true},
		{"int64 codec", "n-table", n, `42`, false},
		{"string codec", "s-table", []byte(`hello "you"`), `"hello \"you\""`, false},
		{"bytes codec, JSON", "b-table", []byte(`[1,2]`), `[1,2]`, false},
		{"bytes codec, not UTF-8", "b-table", []byte{0xff, 'a'}, `"\"\\xffa\""`, false},
		{"no codec", "other-table", []byte(`plain`), `"plain"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toJSON(dec[tc.table], tc.in)
			if (err != nil) != tc.err || string(got) != tc.want {
				t.Errorf("toJSON(%q) = %s, %v; want %s (error: %v)", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}
