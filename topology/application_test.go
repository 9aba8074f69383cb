package topology_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

var probes = topology.Stream[string]{Name: "probes", Codec: topology.String()}

// appGraph is a counter and a reader that looks the count up in the
// counter's table, under the application id app: the same agent names in
// every app, and outputs of their own.
func appGraph(app string) *topology.Graph {
	counts := topology.Stream[int64]{Name: "counts-" + app, Codec: topology.Int64()}
	seen := topology.Stream[int64]{Name: "seen-" + app, Codec: topology.Int64()}
	counter := topology.Agent[int64]{
		Name:  "counter",
		State: topology.Int64(),
		Inputs: []topology.Input[int64]{topology.Consume(clicks,
			func(c *topology.Context[int64], key string, _ string) error {
				n, _, err := c.State()
				if err != nil {
					return err
				}
				if err := c.SetState(n + 1); err != nil {
					return err
				}
				return topology.Emit(c, counts, key, n+1)
			})},
		Outputs: []topology.Topic{counts},
	}
	// The reader looks a key up when a probe for it comes: a lookup table
	// follows the changelog, so the count it finds is eventually the last.
	table := counter.Table()
	reader := topology.Agent[struct{}]{
		Name: "reader",
		Inputs: []topology.Input[struct{}]{topology.Consume(probes,
			func(c *topology.Context[struct{}], key string, _ string) error {
				n, _, err := topology.Lookup(c, table, key)
				if err != nil {
					return err
				}
				return topology.Emit(c, seen, key, n)
			})},
		Lookups: []topology.Topic{table},
		Outputs: []topology.Topic{seen},
	}
	return &topology.Graph{
		Name:        "count",
		Application: app,
		Sources:     []topology.Topic{clicks, probes},
		Sinks:       []topology.Topic{counts, seen},
		Agents:      []topology.AgentDecl{counter, reader},
	}
}

// TestApplicationsShareACluster runs two graphs with the same agent names
// under different application ids on one broker, reading the same input:
// each counts every record (one shared consumer group would split the
// partitions between them, one shared table would count each record twice),
// its reader finds the counts in its own table, and every group and
// internal topic carries its application id.
func TestApplicationsShareACluster(t *testing.T) {
	b := kafkatest.OnEmbedded(t)
	addrs := b.Addrs()
	keys, perKey := 20, 5
	logs := map[string]logRecorder{}
	for _, app := range []string{"shopa", "shopb"} {
		log, rec := newLogRecorder()
		logs[app] = rec
		running(t, appGraph(app), topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.WithLogger(log))
	}
	produceKeys(t, addrs, clicks.Name, keys, perKey)
	for _, app := range []string{"shopa", "shopb"} {
		latest(t, addrs, "counts-"+app, keys, int64(perKey))
	}
	// Probe every key until both readers found every final count.
	probing := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			produceKeys(t, addrs, probes.Name, keys, 1)
			select {
			case <-probing:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	for _, app := range []string{"shopa", "shopb"} {
		latest(t, addrs, "seen-"+app, keys, int64(perKey))
	}
	close(probing)
	<-done
	for app, rec := range logs {
		lines := rec.find("names in use")
		if len(lines) != 1 || attr(lines[0], "application") != app ||
			!strings.Contains(attr(lines[0], "groups"), app+".counter") ||
			!strings.Contains(attr(lines[0], "internal_topics"), app+".counter-table") {
			t.Errorf("Run of %s logged %d lines \"names in use\", want one naming its application, groups and topics: %v", app, len(lines), lines)
		}
	}
	adm := kafkatest.Admin(t, addrs)
	topics, err := adm.ListTopics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	groups, err := adm.ListGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"shopa", "shopb"} {
		g := appGraph(app)
		for _, agent := range []string{"counter", "reader"} {
			n := g.Names(agent)
			if !strings.HasPrefix(n.Group, app+".") {
				t.Errorf("Names(%q).Group = %q, want it in %s's namespace", agent, n.Group, app)
			}
			if _, ok := groups[n.Group]; !ok {
				t.Errorf("no consumer group %q (groups %q)", n.Group, groups.Groups())
			}
			if !topics.Has(n.DeadLetters) {
				t.Errorf("no dead-letter topic %q (topics %q)", n.DeadLetters, topics.Names())
			}
		}
		if n := g.Names("counter").Table; !topics.Has(n) {
			t.Errorf("no table %q (topics %q)", n, topics.Names())
		}
	}
	for _, name := range []string{"counter-table", "counter-dlq", "reader-dlq"} {
		if topics.Has(name) {
			t.Errorf("topic %q of the default namespace exists: %q", name, topics.Names())
		}
	}
	if _, ok := groups["counter"]; ok {
		t.Errorf("group %q of the default namespace exists", "counter")
	}
}

// TestApplicationNames checks the names derived from an application id,
// that the default namespace keeps the agents' own names, and that an
// invalid id fails validation.
func TestApplicationNames(t *testing.T) {
	def := appGraph("").Names("counter")
	want := topology.AgentNames{Group: "counter", Table: "counter-table", DeadLetters: "counter-dlq",
		Loop: "counter-loop", Timers: "counter-timers", TransactionalIDPrefix: "sluice-counter-", StateDir: "state/counter"}
	if def != want {
		t.Errorf("default Names = %+v, want %+v", def, want)
	}
	g := appGraph("shop")
	got := g.Names("counter")
	want = topology.AgentNames{Group: "shop.counter", Table: "shop.counter-table", DeadLetters: "shop.counter-dlq",
		Loop: "shop.counter-loop", Timers: "shop.counter-timers", TransactionalIDPrefix: "sluice-shop.counter-", StateDir: "state/shop.counter"}
	if got != want {
		t.Errorf("Names = %+v, want %+v", got, want)
	}
	if err := g.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	d := g.Describe()
	for _, s := range []string{"group:  shop.counter", "shop.counter-table", "shop.reader-dlq"} {
		if !strings.Contains(d, s) {
			t.Errorf("Describe lacks %q:\n%s", s, d)
		}
	}
	if tables := g.Tables(); !slices.Contains(tables, "shop.counter-table") {
		t.Errorf("Tables = %q, want shop.counter-table", tables)
	}
	if n := (topology.Table[int64]{Name: "counter-table"}).In("shop").Name; n != "shop.counter-table" {
		t.Errorf("In = %q", n)
	}
	for _, bad := range []string{"a.b", "a b", "ä", strings.Repeat("x", 201)} {
		if err := appGraph(bad).Validate(); !errors.Is(err, topology.ErrApplication) {
			t.Errorf("Application %q: Validate = %v, want ErrApplication", bad, err)
		}
	}
}
