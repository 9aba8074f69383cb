package topology_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestOversizedDeadLetterDropsValue pins that an input which fits its topic
// but not the dead-letter topic once sluice's headers are added is still
// dead-lettered, with its value left out and its size in
// HeaderValueDropped, and the agent goes on: writing it whole would fail for
// good, and the record would be read again forever.
func TestOversizedDeadLetterDropsValue(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	in := topology.Stream[string]{Name: "in", Codec: topology.String()}
	out := topology.Stream[string]{Name: "out", Codec: topology.String()}
	a := topology.Agent[struct{}]{
		Name: "picky",
		Inputs: []topology.Input[struct{}]{topology.Consume(in,
			func(c *topology.Context[struct{}], key string, v string) error {
				if len(v) > 100 {
					return fmt.Errorf("value of %d bytes: %w", len(v), topology.ErrPermanent)
				}
				return topology.Emit(c, out, key, v)
			})},
		Outputs: []topology.Topic{out},
	}
	g := &topology.Graph{Name: "picky", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out},
		Agents: []topology.AgentDecl{a}, Partitions: 1}
	// A dead-letter topic with a small limit, which the agent fits its
	// producer to: a 3,900-byte input fits it, the same plus headers does not.
	limit := "4000"
	kafkatest.CreateTopic(t, addrs, topology.DeadLetterName("picky"), 1, map[string]*string{"max.message.bytes": &limit})
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir())}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	big := strings.Repeat("x", 3900)
	kafkatest.Produce(t, addrs, in.Name,
		&kgo.Record{Key: []byte("k"), Value: []byte("before")},
		&kgo.Record{Key: []byte("k"), Value: []byte(big)},
		&kgo.Record{Key: []byte("k"), Value: []byte("after")})
	running(t, g, opts...)

	outs := kafkatest.ConsumeN(t, addrs, out.Name, 2)
	if got := string(outs[0].Value) + "," + string(outs[1].Value); got != "before,after" {
		t.Errorf("outputs = %s, want before,after", got)
	}
	dead := kafkatest.ConsumeN(t, addrs, topology.DeadLetterName("picky"), 1)[0]
	h := map[string]string{}
	for _, x := range dead.Headers {
		h[x.Key] = string(x.Value)
	}
	if len(dead.Value) != 0 || h[topology.HeaderValueDropped] != "3900" {
		t.Errorf("dead letter has a %d-byte value and %s=%q; want the value dropped and its size 3900",
			len(dead.Value), topology.HeaderValueDropped, h[topology.HeaderValueDropped])
	}
	if !strings.Contains(h[topology.HeaderError], "value of 3900 bytes") || h[topology.HeaderOffset] != "1" {
		t.Errorf("dead letter headers %v do not say why and where from", h)
	}
}
