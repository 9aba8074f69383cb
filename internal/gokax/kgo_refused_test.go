package gokax

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupRefusal pins which group session errors stop a processor
// (configuration alone fixes them) and which franz-go keeps retrying.
func TestGroupRefusal(t *testing.T) {
	cfg := Config()
	cfg.Consumer.Group.Session.Timeout = 3 * time.Second
	for _, tc := range []struct {
		name string
		err  error
		want string // in the refusal; "" for none
	}{
		{"session timeout", &kgo.ErrGroupSession{Err: kerr.InvalidSessionTimeout}, "(INVALID_SESSION_TIMEOUT): session timeout 3s: set KafkaConfig's Consumer.Group.Session.Timeout"},
		{"group id", &kgo.ErrGroupSession{Err: kerr.InvalidGroupID}, "(INVALID_GROUP_ID): rename the agent"},
		{"group ACL", &kgo.ErrGroupSession{Err: fmt.Errorf("offset fetch: %w", kerr.GroupAuthorizationFailed)}, ""},
		{"other members' protocol", &kgo.ErrGroupSession{Err: kerr.InconsistentGroupProtocol}, ""},
		{"full group", &kgo.ErrGroupSession{Err: kerr.GroupMaxSizeReached}, ""},
		{"coordinator", &kgo.ErrGroupSession{Err: kerr.CoordinatorNotAvailable}, ""},
		{"fetch error", kerr.InvalidSessionTimeout, ""},
		{"not Kafka's", &kgo.ErrGroupSession{Err: errors.New("i/o timeout")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := groupRefusal(cfg, "counter", tc.err)
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("groupRefusal = %v, want nil (retried)", got)
			case tc.want == "":
			case !errors.Is(got, ErrGroupRefused) || !strings.Contains(got.Error(), `consumer group "counter" `+tc.want):
				t.Fatalf("groupRefusal = %v, want ErrGroupRefused saying %q", got, tc.want)
			}
		})
	}
}

// TestDenied pins which errors are ACL denials, what each says to grant,
// and the kafka-acls command for it.
func TestDenied(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		op       string
		topic    string
		txnID    string
		want     string // in the refusal; "" for no denial
		wantsCmd string
	}{
		{"topic read", fmt.Errorf("fetch: %w", kerr.TopicAuthorizationFailed), "READ", "clicks", "", `READ on topic "clicks" (TOPIC_AUTHORIZATION_FAILED`, "--operation Read --topic clicks"},
		{"topic write", kerr.TopicAuthorizationFailed, "WRITE", "counts", "", `WRITE on topic "counts"`, "--operation Write --topic counts"},
		{"topic unknown", kerr.TopicAuthorizationFailed, "READ", "", "", "", ""},
		{"group", &kgo.ErrGroupSession{Err: kerr.GroupAuthorizationFailed}, "READ", "", "", `READ on group "counter" (GROUP_AUTHORIZATION_FAILED`, "--operation Read --group counter"},
		{"transactional id", kerr.TransactionalIDAuthorizationFailed, "WRITE", "", "sluice-counter-a", `WRITE on transactional-id "sluice-counter-a"`, "--operation Write --transactional-id sluice-counter-a"},
		{"transactional id outside exactly-once", kerr.TransactionalIDAuthorizationFailed, "WRITE", "", "", "", ""},
		{"idempotence", kerr.ClusterAuthorizationFailed, "WRITE", "", "", "IDEMPOTENT_WRITE on the cluster", "--operation IdempotentWrite --cluster"},
		{"not a denial", kerr.NotLeaderForPartition, "READ", "clicks", "", "", ""},
		{"not Kafka's", errors.New("i/o timeout"), "READ", "clicks", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := denied(tc.err, tc.op, tc.topic, "counter", tc.txnID)
			if ok != (tc.want != "") {
				t.Fatalf("denied(%v) = %+v, %v; want a denial: %v", tc.err, g, ok, tc.want != "")
			}
			if !ok {
				return
			}
			err := g.refusal("try", 3*time.Second, 2*time.Second, "")
			msg := err.Error()
			for _, want := range []string{tc.want, "every try for 3s, over Consumer.Group.Rebalance.Timeout 2s", "kafka-acls --bootstrap-server BROKER --add --allow-principal User:NAME " + tc.wantsCmd} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal = %q, want it to say %q", msg, want)
				}
			}
			if !errors.Is(err, ErrNotAuthorized) || !errors.Is(err, g.code) {
				t.Errorf("refusal = %v, want ErrNotAuthorized and %v (retriers stop on it)", err, g.code)
			}
			if got, want := errors.Is(err, ErrGroupRefused), g.resource == "group"; got != want {
				t.Errorf("refusal = %v: errors.Is(ErrGroupRefused) = %v, want %v", err, got, want)
			}
		})
	}
}

// TestDenialsStreak pins when a denial stops an agent: after limit of
// denials, not before; a success ends the streak; a denial more than the
// gap after the previous one begins a new streak.
func TestDenialsStreak(t *testing.T) {
	read := grant{kerr.TopicAuthorizationFailed, "READ", "topic", "clicks"}
	write := grant{kerr.TopicAuthorizationFailed, "WRITE", "topic", "counts"}
	t0, limit := time.Unix(1000, 0), 2*time.Second
	long := limit + retrySpacing
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var d Denials
	if _, over := d.see(read, at(0), limit, limit); over {
		t.Fatal("the first denial is over the limit")
	}
	if _, over := d.see(read, at(1500*time.Millisecond), limit, limit); over {
		t.Fatal("a denial 1.5 s in is over the 2 s limit")
	}
	if since, over := d.see(read, at(2*time.Second), limit, limit); !over || since != 2*time.Second {
		t.Fatalf("a denial 2 s in: %v, over %v; want 2s, over", since, over)
	}
	if _, over := d.see(read, at(5*time.Second), limit, limit); over {
		t.Fatal("a denial 3 s after the previous one, over the 2 s gap, continued the streak")
	}
	d.clearTopic("READ", "clicks")
	if d.n.Load() != 0 {
		t.Fatalf("%d streaks after clearTopic, want 0", d.n.Load())
	}
	d.see(write, at(0), limit, long)
	if _, over := d.see(write, at(10*time.Second), limit, long); !over {
		t.Fatal("a denial 10 s after the first, within the gap, is not over the limit")
	}
	d.clearWrite("clicks")
	if _, over := d.see(write, at(11*time.Second), limit, long); !over {
		t.Fatal("a write to another topic ended the streak")
	}
	d.clearWrite("counts")
	if _, over := d.see(write, at(12*time.Second), limit, long); over {
		t.Fatal("a write to the topic did not end the streak")
	}
	// A one-off denial, and the next a day later with no success between
	// (a view of a quiet changelog reads no records): a new streak.
	if _, over := d.see(write, at(24*time.Hour), limit, long); over {
		t.Fatal("a denial a day after the previous one continued its streak")
	}
}
