package gokax

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestTopicManager pins what goka asks its topic manager: a topic's
// partitions, its oldest and newest offsets, and a missing topic as
// ErrNoTopic (which it asks for again until topicWait, and never creates).
func TestTopicManager(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "tm", 3, nil)
	produceTo(t, addrs, "tm", 1, 0, 5)
	tm, err := TopicManagerBuilder(Config())(addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	parts, err := tm.Partitions("tm")
	if err != nil || !slices.Equal(parts, []int32{0, 1, 2}) {
		t.Errorf("Partitions = %v, %v; want [0 1 2]", parts, err)
	}
	if err := tm.EnsureTableExists("tm", 3); err != nil {
		t.Errorf("EnsureTableExists: %v", err)
	}
	for _, tc := range []struct {
		partition int32
		at        int64
		want      int64
	}{
		{0, sarama.OffsetOldest, 0}, {0, sarama.OffsetNewest, 0},
		{1, sarama.OffsetOldest, 0}, {1, sarama.OffsetNewest, 5},
	} {
		if got, err := tm.GetOffset("tm", tc.partition, tc.at); err != nil || got != tc.want {
			t.Errorf("GetOffset(tm, %d, %d) = %d, %v; want %d", tc.partition, tc.at, got, err, tc.want)
		}
	}
	start := time.Now()
	if _, err := tm.Partitions("no-such-topic"); !errors.Is(err, ErrNoTopic) {
		t.Errorf("Partitions of a missing topic: %v, want %v", err, ErrNoTopic)
	}
	if d := time.Since(start); d < topicWait {
		t.Errorf("a missing topic was given up after %v, want %v of asking again", d, topicWait)
	}
	topics, err := kafkatest.Admin(t, addrs).ListTopics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("no-such-topic") {
		t.Error("asking for a missing topic created it")
	}
}

// TestTopicManagerFailuresLeaveNothing runs what broke sarama's topic
// manager: goka asks it from every partition at once while the broker's
// connections break (sarama answered a failed metadata request by closing
// a broker and dropping it from its client, and a concurrent caller that
// had opened the same broker in between left it open for good: goleak
// after examples/visa/visa, and after lookup's outage tests through
// GetOffset). Closed, the manager must leave no goroutine.
func TestTopicManagerFailuresLeaveNothing(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "tm-race", 8, nil)
	leaks := noLeak(t)
	for range 2 {
		tm, err := TopicManagerBuilder(Config())(addrs)
		if err != nil {
			t.Fatal(err)
		}
		f := b.Drop(kmsg.Metadata, 20, nil)
		g := b.Drop(kmsg.ListOffsets, 20, nil)
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
		g.Remove()
		if err := tm.Close(); err != nil {
			t.Fatal(err)
		}
	}
	leaks()
}

// TestTopicManagerCloseEndsCalls pins that closing a topic manager ends a
// call stalled on the broker at once, and leaves nothing behind: sarama's
// client returned from Close while a broker connection it was opening was
// held by a stalled broker, and opened it afterwards.
func TestTopicManagerCloseEndsCalls(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "tm", 1, nil)
	leaks := noLeak(t)
	tm, err := TopicManagerBuilder(Config())(addrs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.Partitions("tm"); err != nil {
		t.Fatal(err)
	}
	f := b.Stall(kmsg.ListOffsets, 3*time.Second, nil)
	got := make(chan error, 1)
	go func() {
		_, err := tm.GetOffset("tm", 0, sarama.OffsetNewest)
		got <- err
	}()
	kafkatest.WaitFor(t, 10*time.Second, func() bool { return f.Hits() > 0 })
	start := time.Now()
	if err := tm.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := <-got; err == nil {
		t.Error("GetOffset across Close succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close and the stalled call took %v, want them ended at once", d)
	}
	leaks()
	awaitBroker(t, addrs)
}
