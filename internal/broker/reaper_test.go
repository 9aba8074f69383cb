package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestDeadJoinerIsRemoved pins the reaper: a member whose connection dies
// while its JoinGroup waits for the rebalance is, on kfake alone, kept in
// the group for good (no session timer is armed for it), holding partitions
// nobody consumes. The broker removes it once its session and rebalance
// timeouts have passed without a request, and the live member gets every
// partition.
func TestDeadJoinerIsRemoved(t *testing.T) {
	b := start(t, broker.Listen("127.0.0.1:0"))
	addrs := b.Addrs()
	const topic, group = "t", "g"
	kafkatest.CreateTopic(t, addrs, topic, 4, nil)

	live, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond), kgo.RebalanceTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() { // a consumer polls; its group management runs meanwhile
		for !live.PollFetches(context.Background()).IsClientClosed() {
		}
	}()
	adm := kadm.NewClient(live)
	waitMembers(t, adm, group, 1, 30*time.Second)

	// The joiner's second JoinGroup (the first only gets its member ID) waits
	// for the live member to rejoin; the joiner's connection closes as soon
	// as the broker has the request.
	received := make(chan struct{})
	b.Cluster().ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if req.(*kmsg.JoinGroupRequest).MemberID != "" && req.(*kmsg.JoinGroupRequest).Group == group {
			b.Cluster().DropControl()
			close(received)
		}
		return nil, nil, false
	})
	joiner, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = group, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 6000, 5000
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, proto)
	resp, err := join.RequestWith(context.Background(), joiner)
	if err != nil || resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first JoinGroup = %v, %v; want MEMBER_ID_REQUIRED", resp, err)
	}
	join.MemberID = resp.MemberID
	go func() { _, _ = join.RequestWith(context.Background(), joiner) }()
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatal("the broker never received the second JoinGroup")
	}
	joiner.Close()

	// The rebalance completes with both; then the dead one must go.
	waitMembers(t, adm, group, 2, 30*time.Second)
	waitMembers(t, adm, group, 1, 60*time.Second)
	gs, err := adm.DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range gs[group].Members {
		if m.MemberID == resp.MemberID {
			t.Errorf("the dead member %s is still in the group", m.MemberID)
		}
	}
}

// waitMembers waits until group is stable with n members.
func waitMembers(t *testing.T, adm *kadm.Client, group string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if err == nil && gs[group].State == "Stable" && len(gs[group].Members) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: %d members in state %q after %v, want %d, stable", group, len(gs[group].Members), gs[group].State, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
