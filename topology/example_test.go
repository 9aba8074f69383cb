package topology_test

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluicehq/sluice/topology"
)

// pageViews is the graph of the examples: an agent counts page views per user
// and emits each new count.
func pageViews() *topology.Graph {
	views := topology.Stream[string]{Name: "page-views", Codec: topology.String()}
	totals := topology.Stream[int64]{Name: "view-totals", Codec: topology.Int64(), Retention: 24 * time.Hour}
	counter := topology.Agent[int64]{
		Name:  "view-counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(views,
			func(c *topology.Context[int64], user string, _ string) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return topology.Emit(c, totals, user, n+1)
			})},
		Outputs: []topology.Topic{totals},
	}
	return &topology.Graph{
		Name:    "page-views",
		Sources: []topology.Topic{views},
		Sinks:   []topology.Topic{totals},
		Agents:  []topology.AgentDecl{counter},
	}
}

func ExampleGraph_Describe() {
	g := pageViews()
	if err := g.Validate(); err != nil {
		fmt.Println("invalid:", err)
		return
	}
	fmt.Print(g.Describe())
	// Output:
	// Topology: page-views
	//   Agent: view-counter
	//     group:  view-counter
	//     input:  page-views (stream, 4 partitions, retention 168h, codec topology.stringCodec) <-- source
	//     state:  view-counter-table (table, compacted, 4 partitions, codec topology.int64Codec)
	//     output: view-totals (stream, 4 partitions, retention 24h, codec topology.int64Codec) --> sink
	//     dlq:    view-counter-dlq (stream, 4 partitions, retention 168h, codec topology.bytesCodec)
	//   Sources:
	//     page-views (stream, 4 partitions, retention 168h, codec topology.stringCodec) --> view-counter
	//   Sinks:
	//     view-totals (stream, 4 partitions, retention 24h, codec topology.int64Codec) <-- view-counter
}

func ExampleGraph_Mermaid() {
	fmt.Print(pageViews().Mermaid())
	// Output:
	// flowchart LR
	//     %% topology: page-views
	//     t_page_views[/"page-views"/]
	//     a_view_counter["view-counter"]
	//     t_view_counter_table[("view-counter-table")]
	//     t_view_totals[/"view-totals"/]
	//     t_view_counter_dlq[/"view-counter-dlq"/]
	//     t_page_views --> a_view_counter
	//     a_view_counter == state ==> t_view_counter_table
	//     a_view_counter --> t_view_totals
	//     a_view_counter -. dlq .-> t_view_counter_dlq
	//     classDef dlq fill:#fee,stroke:#c33
	//     class t_view_counter_dlq dlq
	//     classDef external stroke-width:3px
	//     class t_page_views,t_view_totals external
}

func ExampleProtobuf() {
	// The type argument is the stream's value type: a generated message pointer.
	c := topology.Protobuf[*timestamppb.Timestamp]()
	b, err := c.Encode(timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)))
	if err != nil {
		fmt.Println(err)
		return
	}
	ts, err := c.Decode(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ts.AsTime(), proto.Size(ts) == len(b))
	if _, err := c.Decode([]byte{0xff}); err != nil {
		fmt.Println("garbage: error")
	}
	// Output:
	// 2024-05-01 12:00:00 +0000 UTC true
	// garbage: error
}
