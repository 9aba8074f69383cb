package topology_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

type profile struct {
	Name string `json:"name"`
}

type enriched struct {
	User   string `json:"user"`
	Name   string `json:"name,omitempty"`   // the viewer's name, by join
	Viewed string `json:"viewed,omitempty"` // the viewed user's name, by lookup
}

var (
	profileUpdates = topology.Stream[profile]{Name: "profile-updates", Codec: topology.JSON[profile]()}
	views          = topology.Stream[string]{Name: "views", Codec: topology.String()}
	enrichedViews  = topology.Stream[enriched]{Name: "enriched-views", Codec: topology.JSON[enriched]()}
)

// joinGraph: "profiles" keeps the latest profile per user; "joiner" joins each
// view with the viewer's profile (co-partitioned); "looker" looks up the profile
// of the user named in the view's value (any partition).
func joinGraph() *topology.Graph { return joinGraphNamed(func(s string) string { return s }) }

// joinGraphNamed is joinGraph with its names passed through name.
func joinGraphNamed(name func(string) string) *topology.Graph {
	profileUpdates, views, enrichedViews := profileUpdates, views, enrichedViews
	profileUpdates.Name, views.Name, enrichedViews.Name = name(profileUpdates.Name), name(views.Name), name(enrichedViews.Name)
	profiles := topology.Agent[profile]{
		Name:  name("profiles"),
		State: topology.JSON[profile](),
		Inputs: []topology.Input[profile]{topology.Consume(profileUpdates,
			func(c *topology.Context[profile], _ string, p profile) error { return c.SetState(p) })},
	}
	table := profiles.Table()
	joiner := topology.Agent[struct{}]{
		Name:    name("joiner"),
		Joins:   []topology.Topic{table},
		Outputs: []topology.Topic{enrichedViews},
		Inputs: []topology.Input[struct{}]{topology.Consume(views,
			func(c *topology.Context[struct{}], user string, _ string) error {
				p, ok, err := topology.Join(c, table)
				if err != nil || !ok {
					return fmt.Errorf("join %q: ok=%v err=%v", user, ok, err)
				}
				return topology.Emit(c, enrichedViews, user, enriched{User: user, Name: p.Name})
			})},
	}
	looker := topology.Agent[struct{}]{
		Name:    name("looker"),
		Lookups: []topology.Topic{table},
		Outputs: []topology.Topic{enrichedViews},
		Inputs: []topology.Input[struct{}]{topology.Consume(views,
			func(c *topology.Context[struct{}], user string, other string) error {
				q, ok, err := topology.Lookup(c, table, other)
				if err != nil || !ok {
					return fmt.Errorf("lookup %q: ok=%v err=%v", other, ok, err)
				}
				return topology.Emit(c, enrichedViews, user, enriched{User: user, Viewed: q.Name})
			})},
	}
	return &topology.Graph{
		Name:    "join",
		Sources: []topology.Topic{profileUpdates, views},
		Sinks:   []topology.Topic{enrichedViews},
		Agents:  []topology.AgentDecl{profiles, joiner, looker},
	}
}

// TestJoinAndLookupOnBroker runs a join and a lookup against another agent's
// table, on the embedded broker and on Apache Kafka, with Pebble storage
// under both agents.
func TestJoinAndLookupOnBroker(t *testing.T) { kafkatest.EachBroker(t, testJoinAndLookup) }

func testJoinAndLookup(t *testing.T, b *kafkatest.Broker) {
	addrs := b.Addrs()
	g := joinGraphNamed(b.Name)
	profileUpdates, views, enrichedViews := profileUpdates, views, enrichedViews
	profileUpdates.Name, views.Name, enrichedViews.Name = b.Name(profileUpdates.Name), b.Name(views.Name), b.Name(enrichedViews.Name)
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.Retries(20), topology.RetryBackoff(50 * time.Millisecond)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatal(err)
	}
	const users = 40
	var recs []*kgo.Record
	for i := range users {
		recs = append(recs, &kgo.Record{Topic: profileUpdates.Name, Key: fmt.Appendf(nil, "u%d", i), Value: fmt.Appendf(nil, `{"name":"Name %d"}`, i)})
	}
	kafkatest.Produce(t, addrs, profileUpdates.Name, recs...)
	running(t, g, opts...)
	// The profiles agent must have written its table before views arrive; retries
	// cover the short window in which the enricher's view is still catching up.
	recs = recs[:0]
	for i := range users {
		recs = append(recs, &kgo.Record{Topic: views.Name, Key: fmt.Appendf(nil, "u%d", i), Value: fmt.Appendf(nil, "u%d", (i+1)%users)})
	}
	kafkatest.Produce(t, addrs, views.Name, recs...)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cl := kafkatest.Client(t, addrs, kgo.ConsumeTopics(enrichedViews.Name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	joined, looked := map[string]enriched{}, map[string]enriched{}
	for len(joined) < users || len(looked) < users {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d joined and %d looked-up views of %d before the deadline", len(joined), len(looked), users)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, err := enrichedViews.Codec.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != "" {
				joined[e.User] = e
			} else {
				looked[e.User] = e
			}
		})
	}
	for i := range users {
		u := fmt.Sprintf("u%d", i)
		if want := (enriched{User: u, Name: fmt.Sprintf("Name %d", i)}); joined[u] != want {
			t.Errorf("joined[%s] = %+v, want %+v", u, joined[u], want)
		}
		if want := (enriched{User: u, Viewed: fmt.Sprintf("Name %d", (i+1)%users)}); looked[u] != want {
			t.Errorf("looked[%s] = %+v, want %+v", u, looked[u], want)
		}
	}
}

// TestValidateRejectsJoinAndLookupOfOneTable pins the rule that keeps goka from
// opening a table's partition stores twice in one agent, which crash-looped it on
// the store lock.
func TestValidateRejectsJoinAndLookupOfOneTable(t *testing.T) {
	g := joinGraph()
	table := topology.Table[profile]{Name: topology.TableName("profiles"), Codec: topology.JSON[profile]()}
	both := topology.Agent[struct{}]{
		Name:    "both",
		Joins:   []topology.Topic{table},
		Lookups: []topology.Topic{table},
		Inputs: []topology.Input[struct{}]{topology.Consume(views,
			func(*topology.Context[struct{}], string, string) error { return nil })},
	}
	g.Agents = append(g.Agents, both)
	err := g.Validate()
	if !errors.Is(err, topology.ErrTopicConflict) || !strings.Contains(err.Error(), `agent "both"`) {
		t.Fatalf("Validate() = %v, want ErrTopicConflict naming agent \"both\"", err)
	}
}
