package topology_test

import (
	"fmt"

	"github.com/sluicehq/sluice/topology"
)

// A tool reads a graph through its Description: every agent's topics, and
// every topic's settings, role, users and a decode function, typed, without
// reflection.
func ExampleGraph_Description() {
	clicks := topology.Stream[string]{Name: "clicks", Codec: topology.String()}
	counter := topology.Agent[int64]{
		Name:  "counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(clicks,
			func(c *topology.Context[int64], _ string, _ string) error { return nil })},
	}
	g := &topology.Graph{Name: "clicks", Sources: []topology.Topic{clicks}, Agents: []topology.AgentDecl{counter}}

	d := g.Description()
	for _, a := range d.Agents {
		fmt.Printf("agent %s reads %v, keeps %s, dead letters to %s\n", a.Name, a.Inputs, a.Table, a.DeadLetters)
	}
	for _, t := range d.Topics {
		fmt.Printf("topic %s: %s, %s, %d partitions, codec %s\n", t.Name, t.Kind, t.Role, t.Partitions, t.Codec)
	}
	table, _ := d.Topic("counter-table")
	v, err := table.Decode([]byte("42"))
	fmt.Printf("%T %v %v\n", v, v, err)
	// Output:
	// agent counter reads [clicks], keeps counter-table, dead letters to counter-dlq
	// topic clicks: stream, data, 4 partitions, codec topology.stringCodec
	// topic counter-table: table, data, 4 partitions, codec topology.int64Codec
	// topic counter-dlq: stream, dead letters, 4 partitions, codec topology.bytesCodec
	// int64 42 <nil>
}

// Partition says where a key's records and state are, as every sluice agent
// and Kafka's default partitioner place them: the partition to read for a
// key's history.
func ExamplePartition() {
	fmt.Println(topology.Partition("user-42", 4), topology.Partition("user-42", 12))
	// Output: 0 4
}
