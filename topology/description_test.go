package topology_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// TestDescription pins the typed structure tools build on: names as declared
// (no escaping), every agent's topics, and every topic's settings, role,
// users and codec, in declaration order.
func TestDescription(t *testing.T) {
	d := oddGraph().Description()
	if d.Name != `odd\names` {
		t.Errorf("Name = %q, want %q", d.Name, `odd\names`)
	}
	wantAgents := []topology.AgentDescription{
		{Name: `say "hi" #1`, Group: `say "hi" #1`, Inputs: []string{"in.v1", "in-v1"}, Outputs: []string{"end"},
			Lookups: []string{"billing-table"}, DeadLetters: `say "hi" #1-dlq`},
		{Name: "end", Group: "end", Inputs: []string{"end"}, DeadLetters: "end-dlq"},
	}
	if !reflect.DeepEqual(d.Agents, wantAgents) {
		t.Errorf("Agents =\n%+v\nwant\n%+v", d.Agents, wantAgents)
	}
	q := `say "hi" #1`
	wantTopics := []topology.TopicDescription{
		{Name: "in.v1", Kind: topology.KindStream, Codec: "topology.stringCodec", Partitions: 2, Retention: 90 * time.Minute, Source: true, Readers: []string{q}},
		{Name: "in-v1", Kind: topology.KindStream, Codec: "topology.stringCodec", Partitions: 2, Retention: topology.DefaultRetention, Source: true, Readers: []string{q}},
		{Name: "billing-table", Kind: topology.KindTable, Codec: "topology.int64Codec", Partitions: topology.DefaultPartitions, Source: true, Readers: []string{q}},
		{Name: "end", Kind: topology.KindStream, Codec: "topology.bytesCodec", Partitions: 2, Retention: topology.DefaultRetention, Writers: []string{q}, Readers: []string{"end"}},
		{Name: q + "-dlq", Kind: topology.KindStream, Role: topology.RoleDeadLetters, Owner: q, Codec: "topology.bytesCodec", Partitions: topology.DefaultPartitions, Retention: topology.DefaultRetention, Writers: []string{q}},
		{Name: "end-dlq", Kind: topology.KindStream, Role: topology.RoleDeadLetters, Owner: "end", Codec: "topology.bytesCodec", Partitions: topology.DefaultPartitions, Retention: topology.DefaultRetention, Writers: []string{"end"}},
	}
	got := append([]topology.TopicDescription(nil), d.Topics...)
	for i := range got {
		got[i].Decode = nil // compared below
	}
	if !reflect.DeepEqual(got, wantTopics) {
		t.Errorf("Topics =\n%+v\nwant\n%+v", got, wantTopics)
	}
}

// TestDescriptionDecode pins the decode functions: each topic with a codec
// decodes with it, to a value of the codec's type; a codec error or panic is
// an error; topics without a declared codec have none.
func TestDescriptionDecode(t *testing.T) {
	d := oddGraph().Description()
	bill, _ := d.Topic("billing-table")
	v, err := bill.Decode([]byte("42"))
	if err != nil || v != any(int64(42)) {
		t.Errorf("billing-table Decode(42) = %#v, %v; want int64(42)", v, err)
	}
	if _, err := bill.Decode([]byte("x")); err == nil {
		t.Error("billing-table Decode(x) succeeded, want the codec's error")
	}
	in, _ := d.Topic("in.v1")
	if v, err := in.Decode([]byte("hello")); err != nil || v != any("hello") {
		t.Errorf("in.v1 Decode(hello) = %#v, %v", v, err)
	}
	if dlq, _ := d.Topic("end-dlq"); dlq.Decode != nil {
		t.Error("end-dlq has a Decode; a dead-letter topic has no declared codec")
	}

	boom := topology.Stream[int]{Name: "boom", Codec: panicCodec{}}
	g := &topology.Graph{Sources: []topology.Topic{boom}}
	tb, ok := g.Description().Topic("boom")
	if !ok {
		t.Fatal("source boom not described")
	}
	if _, err := tb.Decode([]byte("1")); err == nil {
		t.Errorf("Decode with a panicking codec = %v, want an error", err)
	}
}

// panicCodec panics when it decodes.
type panicCodec struct{}

func (panicCodec) Encode(int) ([]byte, error) { return nil, nil }
func (panicCodec) Decode([]byte) (int, error) { panic("boom") }
