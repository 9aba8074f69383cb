package topology_test

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestProvision pins what Provision creates on the embedded broker and on a
// 3-node Apache Kafka cluster: streams with cleanup.policy=delete and their
// retention, tables compacted, replication min(3, brokers) and
// min.insync.replicas min(2, replication); existing topics are left alone,
// and one whose partition count or cleanup policy differs is reported with
// ErrTopicMismatch, naming it.
func TestProvision(t *testing.T) {
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		in := topology.Stream[string]{Name: b.Name("orders"), Codec: topology.String(), Retention: time.Hour}
		agent := b.Name("tally")
		g := &topology.Graph{Name: "provision", Sources: []topology.Topic{in}, Agents: []topology.AgentDecl{
			topology.Agent[int64]{Name: agent, State: topology.Int64(), Inputs: []topology.Input[int64]{
				topology.Consume(in, func(c *topology.Context[int64], _ string, _ string) error { return nil })}},
		}}
		opts := []topology.Option{topology.Brokers(b.Addrs()...)}
		sts, err := topology.Provision(t.Context(), g, opts...)
		if err != nil {
			t.Fatalf("Provision: %v", err)
		}
		rf := min(3, b.Nodes())
		want := map[string]string{ // topic -> cleanup.policy
			in.Name:                        "delete",
			topology.TableName(agent):      "compact",
			topology.DeadLetterName(agent): "delete",
		}
		if len(sts) != len(want) {
			t.Fatalf("Provision reported %d topics, want %d: %+v", len(sts), len(want), sts)
		}
		adm := kafkatest.Admin(t, b.Addrs())
		// A broker whose metadata has not caught up with the controller
		// answers UNKNOWN_TOPIC_OR_PARTITION for a topic just created (Apache
		// Kafka's 3-node cluster; Provision waits for it in its own checks),
		// to a metadata request too (a topic with 0 replicas, seen once in
		// CI): ask until every answer is final.
		var configs kadm.ResourceConfigs
		var details kadm.TopicDetails
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			details, err = adm.ListTopics(t.Context(), in.Name, topology.TableName(agent), topology.DeadLetterName(agent))
			if err != nil {
				t.Fatal(err)
			}
			configs, err = adm.DescribeTopicConfigs(t.Context(), in.Name, topology.TableName(agent), topology.DeadLetterName(agent))
			if err != nil {
				t.Fatal(err)
			}
			unknown := slices.ContainsFunc(slices.Collect(maps.Values(details)), func(d kadm.TopicDetail) bool { return d.Err != nil || len(d.Partitions) == 0 })
			if !unknown && !slices.ContainsFunc(configs, func(rc kadm.ResourceConfig) bool { return kerr.IsRetriable(rc.Err) }) || time.Now().After(deadline) {
				break
			}
		}
		for _, st := range sts {
			if !st.Created || st.CleanupPolicy != want[st.Name] || int(st.Replication) != rf {
				t.Errorf("status %+v, want created, cleanup.policy=%s, replication %d", st, want[st.Name], rf)
			}
			if n := details[st.Name].Partitions.NumReplicas(); n != rf {
				t.Errorf("%s has %d replicas, want %d", st.Name, n, rf)
			}
			rc, err := configs.On(st.Name, nil)
			if err == nil {
				err = rc.Err
			}
			if err != nil {
				t.Fatalf("configs of %s: %v", st.Name, err)
			}
			got := map[string]string{}
			for _, c := range rc.Configs {
				if c.Value != nil {
					got[c.Key] = *c.Value
				}
			}
			if got["cleanup.policy"] != want[st.Name] || got["min.insync.replicas"] != strconv.Itoa(min(2, rf)) {
				t.Errorf("%s: cleanup.policy=%s min.insync.replicas=%s, want %s and %d", st.Name, got["cleanup.policy"], got["min.insync.replicas"], want[st.Name], min(2, rf))
			}
			if st.Name == in.Name && got["retention.ms"] != "3600000" {
				t.Errorf("%s: retention.ms=%s, want 3600000", st.Name, got["retention.ms"])
			}
		}

		// Again: everything exists and matches.
		if sts, err = topology.Provision(t.Context(), g, opts...); err != nil {
			t.Fatalf("second Provision: %v", err)
		}
		for _, st := range sts {
			if st.Created {
				t.Errorf("second Provision created %s again", st.Name)
			}
		}

		// Topics made by someone else, one with other partitions, one a
		// stream where the graph has a table.
		other := topology.Stream[string]{Name: b.Name("narrow"), Codec: topology.String()}
		table := b.Name("keeper")
		kafkatest.CreateTopic(t, b.Addrs(), other.Name, 2, nil)
		kafkatest.CreateTopic(t, b.Addrs(), topology.TableName(table), topology.DefaultPartitions, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")})
		bad := &topology.Graph{Name: "mismatch", Sources: []topology.Topic{other}, Agents: []topology.AgentDecl{
			topology.Agent[int64]{Name: table, State: topology.Int64(), Inputs: []topology.Input[int64]{
				topology.Consume(other, func(c *topology.Context[int64], _ string, _ string) error { return nil })}},
		}}
		_, err = topology.Provision(t.Context(), bad, opts...)
		if !errors.Is(err, topology.ErrTopicMismatch) {
			t.Fatalf("Provision with mismatched topics = %v, want ErrTopicMismatch", err)
		}
		for _, name := range []string{other.Name, topology.TableName(table)} {
			if !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Errorf("mismatch error %q does not name %s", err, name)
			}
		}
	})
}
