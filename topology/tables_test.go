package topology_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/topology"
)

// tablesGraph has a counter with an int64 table that looks up an external
// table of profiles, and a source table of strings.
func tablesGraph() *topology.Graph {
	profiles := topology.ExternalTable("profiles", topology.JSON[profile]())
	labels := topology.ExternalTable("labels", topology.String())
	g := counterGraph()
	counter := g.Agents[0].(topology.Agent[int64])
	counter.Lookups = []topology.Topic{profiles}
	g.Agents[0] = counter
	g.Sources = append(g.Sources, labels, profiles)
	return g
}

func TestGraphTables(t *testing.T) {
	g := tablesGraph()
	if got, want := g.Tables(), []string{"counter-table", "profiles-table", "labels-table"}; !slices.Equal(got, want) {
		t.Errorf("Tables() = %q, want %q", got, want)
	}

	counts, err := topology.TableOf[int64](g, "counter-table")
	if err != nil || counts.Name != "counter-table" || counts.Codec == nil {
		t.Fatalf("TableOf[int64](counter-table) = %+v, %v", counts, err)
	}
	if v, err := counts.Codec.Decode([]byte("42")); err != nil || v != 42 {
		t.Errorf("its codec decodes 42 as %d, %v", v, err)
	}
	if _, err := topology.TableOf[string](g, "counter-table"); !errors.Is(err, topology.ErrCodecMismatch) {
		t.Errorf("TableOf[string](counter-table) = %v, want ErrCodecMismatch", err)
	}
	for _, name := range []string{"nope", "clicks"} { // unknown; a stream
		if _, err := topology.TableOf[int64](g, name); !errors.Is(err, topology.ErrUnknownTopic) {
			t.Errorf("TableOf(%s) = %v, want ErrUnknownTopic", name, err)
		}
		if _, err := topology.AnyTable(g, name); !errors.Is(err, topology.ErrUnknownTopic) {
			t.Errorf("AnyTable(%s) = %v, want ErrUnknownTopic", name, err)
		}
	}

	for _, tc := range []struct {
		table string
		in    string
		want  any
	}{
		{"counter-table", "7", int64(7)},
		{"profiles-table", `{"name":"ann"}`, profile{Name: "ann"}},
		{"labels-table", "x", "x"},
	} {
		tbl, err := topology.AnyTable(g, tc.table)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tbl.Codec.Decode([]byte(tc.in))
		if err != nil || v != tc.want {
			t.Errorf("AnyTable(%s) decodes %q as %#v, %v, want %#v", tc.table, tc.in, v, err, tc.want)
		}
		b, err := tbl.Codec.Encode(v)
		if err != nil || string(b) != tc.in {
			t.Errorf("AnyTable(%s) encodes %#v as %q, %v, want %q", tc.table, v, b, err, tc.in)
		}
	}
	tbl, _ := topology.AnyTable(g, "counter-table")
	if _, err := tbl.Codec.Encode("seven"); err == nil {
		t.Error("AnyTable(counter-table) encoded a string")
	}
}
