package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// wantTopics are testGraph's topics and their cleanup policies.
var wantTopics = map[string]string{
	"clicks":        "delete",
	"counts":        "delete",
	"counter-table": "compact",
	"counter-dlq":   "delete",
}

// topicRows parses the table 'topics' prints into rows keyed by topic name.
func topicRows(t *testing.T, stdout string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "TOPIC") {
		t.Fatalf("stdout has no table header:\n%s", stdout)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 6 {
			t.Fatalf("row %q has %d columns, want 6", l, len(f))
		}
		rows[f[0]] = f
	}
	return rows
}

// TestTopics pins that 'topics' creates every topic of the graph with the right
// cleanup policy on a given cluster, says so, and reports them as existing the
// second time.
func TestTopics(t *testing.T) {
	t.Parallel()
	addrs := kafkatest.Start(t).Addrs()
	for i, status := range []string{"created", "existing"} {
		stdout, stderr, code := run(t, "", nil, "topics", "--brokers", strings.Join(addrs, ","))
		if code != 0 {
			t.Fatalf("run %d: exit status %d, want 0; stderr:\n%s", i+1, code, stderr)
		}
		rows := topicRows(t, stdout)
		if len(rows) != len(wantTopics) {
			t.Errorf("run %d: %d topics listed, want %d:\n%s", i+1, len(rows), len(wantTopics), stdout)
		}
		for name, policy := range wantTopics {
			r, ok := rows[name]
			switch {
			case !ok:
				t.Errorf("run %d: topic %q not listed", i+1, name)
			case r[2] != "2" || r[3] != "1" || r[4] != policy || r[5] != status:
				t.Errorf("run %d: row %v, want 2 partitions, replication 1, cleanup.policy %s, %s", i+1, r, policy, status)
			}
		}
	}
	// The table must say what the broker has, not what was asked for.
	rcs, err := kafkatest.Admin(t, addrs).DescribeTopicConfigs(t.Context(), "counter-table")
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact") {
			t.Errorf("broker has cleanup.policy=%v for counter-table, want compact", c.Value)
		}
	}
}

// TestTopicsEmbedded pins that 'topics' without --brokers provisions on the
// embedded broker in the data directory, and stops it before exiting 0.
func TestTopicsEmbedded(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := run(t, "", nil, "topics", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr)
	}
	if !brokerAddr.MatchString(stderr) {
		t.Errorf("stderr does not log the broker's address:\n%s", stderr)
	}
	for name, policy := range wantTopics {
		if r := topicRows(t, stdout)[name]; r == nil || r[4] != policy || r[5] != "created" {
			t.Errorf("row for %q = %v, want cleanup.policy %s, created", name, r, policy)
		}
	}
}

// TestTopicsMismatch pins that an existing topic that differs from the
// declaration is a runtime failure: exit status 1, one line naming the topic,
// after the table.
func TestTopicsMismatch(t *testing.T) {
	t.Parallel()
	addrs := kafkatest.Start(t).Addrs()
	if _, err := kafkatest.Admin(t, addrs).CreateTopic(t.Context(), 3, 1, nil, "clicks"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	p := start(t, "", nil, "topics", "--brokers", addrs[0], "--log-level", "error")
	code := p.wait(30 * time.Second)
	stdout, stderr := p.stdout.String(), p.stderr.String()
	if code != 1 {
		t.Errorf("exit status = %d, want 1", code)
	}
	if rows := topicRows(t, stdout); rows["clicks"] == nil || rows["clicks"][2] != "3" {
		t.Errorf("table does not show clicks with its 3 partitions:\n%s", stdout)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `"clicks" has 3 partitions`) {
		t.Errorf("stderr = %q, want one line about clicks' partitions", stderr)
	}
}
