package gokax

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestTopicManagerFailuresLeaveNoConnection pins that a topic manager whose
// broker connections break while goka asks it from many goroutines at once
// (a processor's partitions start together) closes for good. sarama answers
// a failed metadata request by closing the broker and then dropping it from
// its client (a registered broker deleted, a seed moved to the dead seeds,
// which its Close never closes); a concurrent caller that opened the same
// broker in between left it open and unreachable: its connection and
// responseReceiver goroutine stayed for good (goleak, after examples/visa/visa
// under load; Close waited 10 s for it and failed). The race is a few
// instructions wide and this test did not catch it on the old code in 5
// rounds; it runs the path (concurrent calls, dropped connections, Close)
// so that a leak there fails it, and TestClientClosesHandedBrokers pins
// the fix's mechanism.
func TestTopicManagerFailuresLeaveNoConnection(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "tm-race", 8, nil)
	checkNoSarama(t, "before the test")
	for round := range 2 {
		tm, err := TopicManagerBuilder(Config())(addrs)
		if err != nil {
			t.Fatal(err)
		}
		f := b.Drop(kmsg.Metadata, 20, nil)
		var wg sync.WaitGroup
		for p := range int32(8) {
			wg.Go(func() {
				for range 5 {
					_, _ = tm.Partitions("tm-race")
					_, _ = tm.GetOffset("tm-race", p, sarama.OffsetNewest)
				}
			})
		}
		wg.Wait()
		f.Remove()
		start := time.Now()
		if err := tm.Close(); err != nil {
			t.Fatalf("round %d: close after %v: %v (errConnsLeft: %v)", round, time.Since(start).Round(time.Millisecond), err, errors.Is(err, errConnsLeft))
		}
		checkNoSarama(t, "after the topic manager closed")
	}
}

// TestClientClosesHandedBrokers pins that a client's Close closes a broker
// it handed out that sarama no longer holds: here one sarama dropped from
// its brokers (as a failed request does) after a caller had opened it.
// sarama's Close alone leaves it open, with its responseReceiver.
func TestClientClosesHandedBrokers(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "handed", 1, nil)
	checkNoSarama(t, "before the test")
	cl, err := newClient(addrs, Config())
	if err != nil {
		t.Fatal(err)
	}
	b, err := cl.Leader("handed", 0) // opened by Leader
	if err != nil {
		t.Fatal(err)
	}
	connected := func() bool { ok, _ := b.Connected(); return ok }
	kafkatest.WaitFor(t, 5*time.Second, connected)
	// What a failed request and a concurrent caller do: sarama closes the
	// broker and drops it from the client (RefreshBrokers here, which
	// closes it in a goroutine), and the caller, which holds it, opens it
	// again.
	if err := cl.RefreshBrokers(addrs); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 5*time.Second, func() bool { return !connected() })
	if err := b.Open(cl.Config()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 5*time.Second, connected)
	if err := cl.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	checkNoSarama(t, "after Close")
}
