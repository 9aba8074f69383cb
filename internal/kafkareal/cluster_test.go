package kafkareal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kafkareal.Main(m))
}

// TestFailover pins what the fault tests build on: on the 3-node cluster a
// topic with replication 3 and min.insync.replicas=2 takes acks=all writes,
// SIGKILL of its partition's leader moves the leadership to another node,
// writes go on, and the killed node comes back into the cluster.
func TestFailover(t *testing.T) {
	c := kafkareal.Shared(t, kafkareal.Config{Nodes: 3})
	ctx := t.Context()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("failover"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "failover")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	produce := func(v string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	produce("before")
	leader, err := c.Leader(ctx, "failover", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	if c.Node(leader).Running() {
		t.Fatalf("node %d runs after Kill", leader)
	}
	t.Cleanup(func() {
		if err := c.Restart(context.Background(), leader); err != nil {
			t.Errorf("restart node %d: %v", leader, err)
		}
	})
	produce("during")
	deadline := time.Now().Add(time.Minute)
	for {
		now, err := c.Leader(ctx, "failover", 0)
		if err == nil && now != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader still %d (%v) a minute after SIGKILL of node %d", now, err, leader)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatalf("restart node %d: %v", leader, err)
	}
	produce("after")
	ends, err := adm.ListEndOffsets(ctx, "failover")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("failover", 0); o.Offset != 3 {
		t.Fatalf("end offset %d, want 3 (every acknowledged write kept)", o.Offset)
	}
}

// TestTool runs kafka-consumer-groups against the cluster.
func TestTool(t *testing.T) {
	c := kafkareal.Shared(t, kafkareal.Config{Nodes: 3})
	out, err := c.Tool(t.Context(), kafkareal.ConsumerGroups, "--list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "Exception") {
		t.Fatalf("kafka-consumer-groups --list:\n%s", out)
	}
}
