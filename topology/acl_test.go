package topology_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// transactional matches the InitProducerID requests of transactional
// producers: the test's own producer is idempotent, and asks one too.
func transactional(req kmsg.Request) bool {
	r, ok := req.(*kmsg.InitProducerIDRequest)
	return ok && r.TransactionalID != nil
}

// TestRunStopsOnDeniedACL runs the counter graph on the embedded broker,
// with a few inputs, while the broker answers one kind of request with an
// ACL denial for good, as Kafka does for a principal an ACL is missing
// for: Run returns ErrNotAuthorized, on one line that names the operation,
// the resource and the kafka-acls command that grants it, once the denial
// outlasted the rebalance timeout (2 s here) and not before, instead of
// retrying for ever (a fetch or offset-fetch denial: polling or rejoining
// at debug level; a write denial: the supervisor restarting the agent). A
// denial that ends sooner is ridden out: the fault matrix pins one-off
// denials.
func TestRunStopsOnDeniedACL(t *testing.T) {
	for _, tc := range []struct {
		name        string
		exactlyOnce bool
		deny        func(t *testing.T, b *broker.Broker)
		want        []string
		group       bool // a denial of the group: ErrGroupRefused too
	}{
		{"fetch of the input", false, func(t *testing.T, b *broker.Broker) {
			b.NoFetchSessions()
			b.Fail(kmsg.Fetch, kerr.TopicAuthorizationFailed, -1, broker.ForTopic(clicks.Name))
		}, []string{`READ on topic "clicks"`, "TOPIC_AUTHORIZATION_FAILED", "every fetch", "--operation Read --topic clicks"}, false},
		{"fetch of the changelog (recovery)", false, func(t *testing.T, b *broker.Broker) {
			// A state to recover: goka reads an empty changelog not at all.
			kafkatest.Produce(t, b.Addrs(), topology.TableName("counter"), &kgo.Record{Key: []byte("u0"), Value: []byte("1")})
			b.NoFetchSessions()
			b.FailTopic(kmsg.Fetch, kerr.TopicAuthorizationFailed, -1, topology.TableName("counter"))
		}, []string{`READ on topic "counter-table"`, "TOPIC_AUTHORIZATION_FAILED", "every fetch", "--operation Read --topic counter-table"}, false},
		{"offset fetch of the input", false, func(t *testing.T, b *broker.Broker) {
			b.FailTopic(kmsg.OffsetFetch, kerr.TopicAuthorizationFailed, -1, clicks.Name)
		}, []string{`READ on topic "clicks"`, "TOPIC_AUTHORIZATION_FAILED", "every offset fetch", "--operation Read --topic clicks"}, false},
		{"offset fetch of the group", false, func(t *testing.T, b *broker.Broker) {
			// DESCRIBE denied, READ allowed: JoinGroup succeeds.
			b.Fail(kmsg.OffsetFetch, kerr.GroupAuthorizationFailed, -1, broker.ForGroup("counter"))
		}, []string{`READ on group "counter"`, "GROUP_AUTHORIZATION_FAILED", "every join", "--operation Read --group counter"}, true},
		{"write of the output", false, func(t *testing.T, b *broker.Broker) {
			b.FailTopic(kmsg.Produce, kerr.TopicAuthorizationFailed, -1, counts.Name)
		}, []string{`WRITE on topic "counts"`, "TOPIC_AUTHORIZATION_FAILED", "every write", "--operation Write --topic counts"}, false},
		{"write of the changelog", false, func(t *testing.T, b *broker.Broker) {
			b.FailTopic(kmsg.Produce, kerr.TopicAuthorizationFailed, -1, topology.TableName("counter"))
		}, []string{`WRITE on topic "counter-table"`, "every write", "--operation Write --topic counter-table"}, false},
		{"exactly-once: transactional id", true, func(t *testing.T, b *broker.Broker) {
			b.Fail(kmsg.InitProducerID, kerr.TransactionalIDAuthorizationFailed, -1, transactional)
		}, []string{`WRITE on transactional-id "sluice-counter-`, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "every transaction start", "--operation Write --transactional-id sluice-counter-"}, false},
		{"exactly-once: write of the output", true, func(t *testing.T, b *broker.Broker) {
			// A transaction adds the partition first (AddPartitionsToTxn).
			b.FailTopic(kmsg.AddPartitionsToTxn, kerr.TopicAuthorizationFailed, -1, counts.Name)
			b.FailTopic(kmsg.Produce, kerr.TopicAuthorizationFailed, -1, counts.Name)
		}, []string{"WRITE on topic", "TOPIC_AUTHORIZATION_FAILED", "every write", "or WRITE on the agent's other output or changelog topic"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.Start(t)
			cfg := topology.DefaultKafkaConfig()
			cfg.Consumer.Group.Rebalance.Timeout = 2 * time.Second
			opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()),
				topology.KafkaConfig(cfg), topology.RestartBackoff(50*time.Millisecond, 500*time.Millisecond)}
			if tc.exactlyOnce {
				opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
			}
			g := counterGraph()
			if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
				t.Fatalf("Provision: %v", err)
			}
			kafkatest.Produce(t, b.Addrs(), clicks.Name, &kgo.Record{Key: []byte("u1"), Value: []byte("/")},
				&kgo.Record{Key: []byte("u2"), Value: []byte("/")})
			tc.deny(t, b)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			start := time.Now()
			err := topology.Run(ctx, g, opts...)
			checkDenialStop(t, "Run", ctx, err, time.Since(start), topology.ErrNotAuthorized, append(tc.want, "kafka-acls")...)
			if got := errors.Is(err, topology.ErrGroupRefused); got != tc.group {
				t.Errorf("Run = %v: errors.Is(ErrGroupRefused) = %v, want %v", err, got, tc.group)
			}
		})
	}
}

// TestViewStopsOnDeniedChangelog runs a view of the counter's table (what
// serve runs) while the broker denies every fetch of its changelog
// (TOPIC_AUTHORIZATION_FAILED: the principal lacks READ on it): View.Run
// returns ErrNotAuthorized, on one line saying what to grant, once the
// denial outlasted the rebalance timeout (2 s here), instead of
// reconnecting for ever.
func TestViewStopsOnDeniedChangelog(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	cfg := topology.DefaultKafkaConfig()
	cfg.Consumer.Group.Rebalance.Timeout = 2 * time.Second
	opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()), topology.KafkaConfig(cfg)}
	if _, err := topology.Provision(t.Context(), counterGraph(), opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	table := topology.TableName("counter")
	kafkatest.Produce(t, b.Addrs(), table, &kgo.Record{Key: []byte("u1"), Value: []byte("1")})
	b.NoFetchSessions()
	b.FailTopic(kmsg.Fetch, kerr.TopicAuthorizationFailed, -1, table)
	v, err := topology.NewView(topology.Table[int64]{Name: table, Codec: topology.Int64()}, opts...)
	if err != nil {
		t.Fatalf("NewView: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	err = v.Run(ctx)
	checkDenialStop(t, "View.Run", ctx, err, time.Since(start), topology.ErrNotAuthorized,
		`READ on topic "counter-table"`, "TOPIC_AUTHORIZATION_FAILED", "--operation Read --topic counter-table")
}

// checkDenialStop checks what, run with a 2 s Consumer.Group.Rebalance.Timeout
// under ctx (its deadline a minute or less) on a broker denying it for good,
// did: it stopped (err) before ctx's deadline, after took of at least the
// timeout, with an error wrapping sentinel, on one line that says each of
// want and the timeout.
func checkDenialStop(t *testing.T, what string, ctx context.Context, err error, took time.Duration, sentinel error, want ...string) {
	t.Helper()
	if ctx.Err() != nil {
		t.Fatalf("%s = %v after %v: it did not stop on the denial", what, err, took.Round(time.Second))
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s = %v, want %v", what, err, sentinel)
	}
	if took < 2*time.Second {
		t.Errorf("%s stopped after %v, before the 2 s rebalance timeout", what, took)
	}
	msg := err.Error()
	for _, w := range append(want, "Rebalance.Timeout 2s") {
		if !strings.Contains(msg, w) {
			t.Errorf("%s = %q, want it to say %q", what, msg, w)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%s = %q, want one line", what, msg)
	}
	t.Logf("stopped after %v: %s", took.Round(100*time.Millisecond), msg)
}

// TestProvisionDenied pins what provisioning says when the cluster's ACLs
// deny a request it sends: it stops at once, and so does Run (retrying
// cannot help; an ACL granted later does, for the next run), with
// ErrNotAuthorized and what to grant, on the embedded broker answering
// that request with the denial Kafka answers.
func TestProvisionDenied(t *testing.T) {
	for _, tc := range []struct {
		name string
		deny func(b *broker.Broker)
		want []string
	}{
		{"create a missing topic", func(b *broker.Broker) {
			b.FailTopic(kmsg.CreateTopics, kerr.TopicAuthorizationFailed, -1, clicks.Name)
		}, []string{`CREATE on topic "clicks"`, "the topic does not exist", "--operation Create --topic clicks"}},
		{"create on the cluster", func(b *broker.Broker) {
			b.FailTopic(kmsg.CreateTopics, kerr.ClusterAuthorizationFailed, -1, clicks.Name)
		}, []string{"CREATE on the cluster", "CLUSTER_AUTHORIZATION_FAILED", "--operation Create --cluster"}},
		{"a topic hidden from the principal", func(b *broker.Broker) {
			b.FailTopic(kmsg.Metadata, kerr.TopicAuthorizationFailed, -1, clicks.Name)
		}, []string{`DESCRIBE on topic "clicks"`, "hidden", "READ (an input or table) or WRITE (an output)", "--operation Describe --topic clicks"}},
		{"describe a topic's configuration", func(b *broker.Broker) {
			b.Fail(kmsg.DescribeConfigs, kerr.TopicAuthorizationFailed, -1, func(req kmsg.Request) bool {
				for _, r := range req.(*kmsg.DescribeConfigsRequest).Resources {
					if r.ResourceName == counts.Name {
						return true
					}
				}
				return false
			})
		}, []string{`DESCRIBE_CONFIGS on topic "counts"`, "cleanup.policy", "--operation DescribeConfigs --topic counts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.Start(t)
			tc.deny(b)
			_, err := topology.Provision(t.Context(), counterGraph(), topology.Brokers(b.Addrs()...))
			if !errors.Is(err, topology.ErrNotAuthorized) {
				t.Fatalf("Provision = %v, want ErrNotAuthorized", err)
			}
			for _, want := range append(tc.want, "kafka-acls") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Provision = %q, want it to say %q", err, want)
				}
			}
			t.Logf("%v", err)
			// Run provisions too, retrying what may heal: not this.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err = topology.Run(ctx, counterGraph(), topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()))
			if ctx.Err() != nil || !errors.Is(err, topology.ErrNotAuthorized) {
				t.Errorf("Run = %v (after 30 s: %v), want ErrNotAuthorized at once", err, ctx.Err() != nil)
			}
		})
	}
}

// TestRunRidesOutShortDenial pins the other half of the rule: a denial
// that ends within the rebalance timeout (5 s here; this one lasts 1.5 s
// from its first hit, an ACL granted a moment late) is ridden out: Run
// goes on and the inputs are counted and emitted.
func TestRunRidesOutShortDenial(t *testing.T) {
	for _, tc := range []struct {
		name string
		deny func(b *broker.Broker) *broker.Fault
	}{
		{"fetch of the input", func(b *broker.Broker) *broker.Fault {
			b.NoFetchSessions()
			return b.FailTopic(kmsg.Fetch, kerr.TopicAuthorizationFailed, -1, clicks.Name)
		}},
		{"offset fetch of the group", func(b *broker.Broker) *broker.Fault {
			return b.Fail(kmsg.OffsetFetch, kerr.GroupAuthorizationFailed, -1, broker.ForGroup("counter"))
		}},
		{"write of the output", func(b *broker.Broker) *broker.Fault {
			return b.FailTopic(kmsg.Produce, kerr.TopicAuthorizationFailed, -1, counts.Name)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.Start(t)
			cfg := topology.DefaultKafkaConfig()
			cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
			opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir()),
				topology.KafkaConfig(cfg), topology.RestartBackoff(50*time.Millisecond, 500*time.Millisecond)}
			g := counterGraph()
			if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
				t.Fatalf("Provision: %v", err)
			}
			kafkatest.Produce(t, b.Addrs(), clicks.Name, &kgo.Record{Key: []byte("u1"), Value: []byte("/")},
				&kgo.Record{Key: []byte("u2"), Value: []byte("/")})
			f := tc.deny(b)
			running(t, g, opts...)
			waitUntil(t, time.Minute, "the denial to hit a request", func() bool { return f.Hits() > 0 })
			time.Sleep(1500 * time.Millisecond) // the denial lasts
			f.Remove()
			waitUntil(t, time.Minute, "both inputs counted and emitted", func() bool {
				keys := map[string]bool{}
				for _, r := range kafkatest.ConsumeAll(t, b.Addrs(), counts.Name) {
					keys[string(r.Key)] = true
				}
				return keys["u1"] && keys["u2"]
			})
		})
	}
}
