package gokax

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// produceTo writes n records to topic/partition, valued by their number
// from first on.
func produceTo(t *testing.T, addrs []string, topic string, partition int32, first, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(strconv.Itoa(first + i))}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readN reads n records of pc and fails t unless they are offsets from,
// from+1, ... in order.
func readN(t *testing.T, pc sarama.PartitionConsumer, from int64, n int) {
	t.Helper()
	for want := from; want < from+int64(n); want++ {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				t.Fatalf("messages closed before offset %d", want)
			}
			if m.Offset != want || string(m.Value) != strconv.FormatInt(want, 10) {
				t.Fatalf("%s/%d: got offset %d (%q), want %d", m.Topic, m.Partition, m.Offset, m.Value, want)
			}
		case err := <-pc.Errors():
			t.Fatalf("consume: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("no offset %d within 30 s", want)
		}
	}
}

// TestKconsumer pins the table consumer goka reads with: every partition on
// one client, each in order from the offset asked; a partition goka does
// not read (its channel full) holds back no other, and loses nothing; a
// partition read again right after it closed gets exactly the records
// from its new offset, none fetched for its predecessor (goka does so
// between a view's recovery and its catch-up).
func TestKconsumer(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "tbl", 4, nil)
	const n = 200
	for p := range int32(4) {
		produceTo(t, addrs, "tbl", p, 0, n)
	}
	leaks := noLeak(t)
	cfg := Config()
	cfg.ChannelBufferSize = 4 // a fetch brings far more: the channels fill at once
	c, err := newKconsumer(addrs, cfg, "test", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	pcs := make([]sarama.PartitionConsumer, 4)
	for p := range pcs {
		if pcs[p], err = c.ConsumePartition("tbl", int32(p), sarama.OffsetOldest); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ConsumePartition("tbl", 0, 0); err == nil {
		t.Error("a partition was consumed twice at once")
	}
	// The last partition first, while the others wait full.
	for _, p := range []int{3, 0, 1, 2} {
		readN(t, pcs[p], 0, n)
	}
	if hwm := pcs[1].HighWaterMarkOffset(); hwm != n {
		t.Errorf("high watermark %d, want %d", hwm, n)
	}
	if hwms := c.HighWaterMarks(); hwms["tbl"][2] != n {
		t.Errorf("HighWaterMarks = %v, want %d for tbl/2", hwms, n)
	}
	for round := range 5 {
		// Records come in while the partition closes and opens again.
		produceTo(t, addrs, "tbl", 0, n+round*10, 10)
		if err := pcs[0].Close(); err != nil {
			t.Fatal(err)
		}
		from := int64(n - 50 + round*10)
		if pcs[0], err = c.ConsumePartition("tbl", 0, from); err != nil {
			t.Fatal(err)
		}
		readN(t, pcs[0], from, int(int64(n+round*10+10)-from))
	}
	pcs[1].AsyncClose()
	for range pcs[1].Messages() {
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{0, 2, 3} {
		select {
		case _, ok := <-pcs[p].Messages():
			for ok {
				_, ok = <-pcs[p].Messages()
			}
		case <-time.After(10 * time.Second):
			t.Errorf("partition %d still open after its consumer closed", p)
		}
	}
	if _, err := c.ConsumePartition("tbl", 0, 0); err == nil {
		t.Error("a closed consumer consumes")
	}
	leaks()
}

// awaitBroker returns once the broker at addrs answers: a stall is over
// (closing the broker during one leaves kfake's goroutines behind).
func awaitBroker(t *testing.T, addrs []string) {
	t.Helper()
	if _, err := kafkatest.Admin(t, addrs).ListTopics(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestKconsumerCloseDuringOutage closes a consumer reading a partition
// while its broker is away, then one whose fetch the broker holds: each
// closes at once and leaves no goroutine (sarama's consumer left a broker
// connection it reopened during an outage open for good).
func TestKconsumerCloseDuringOutage(t *testing.T) {
	t.Run("broker stopped", func(t *testing.T) {
		rb := kafkatest.StartRestartable(t)
		addrs := rb.Addrs()
		kafkatest.CreateTopic(t, addrs, "tbl", 2, nil)
		produceTo(t, addrs, "tbl", 1, 0, 10)
		leaks := noLeak(t)
		c, err := newKconsumer(addrs, Config(), "test", false, nil)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := c.ConsumePartition("tbl", 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		readN(t, pc, 0, 10)
		rb.Stop()
		time.Sleep(500 * time.Millisecond) // fetches fail, the client reconnects
		start := time.Now()
		pc.AsyncClose()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed in %v", d)
		}
		leaks()
	})
	t.Run("fetch stalled", func(t *testing.T) {
		b := kafkatest.Start(t)
		addrs := b.Addrs()
		kafkatest.CreateTopic(t, addrs, "tbl", 1, nil)
		leaks := noLeak(t)
		c, err := newKconsumer(addrs, Config(), "test", false, nil)
		if err != nil {
			t.Fatal(err)
		}
		f := b.Stall(kmsg.Fetch, 3*time.Second, nil)
		if _, err := c.ConsumePartition("tbl", 0, 0); err != nil {
			t.Fatal(err)
		}
		kafkatest.WaitFor(t, 10*time.Second, func() bool { return f.Hits() > 0 })
		start := time.Now()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// franz-go gives the fetch on the wire a moment (about 1 s here).
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed in %v during a 3 s stall", d)
		}
		leaks()
		awaitBroker(t, addrs)
	})
}

// TestViewStopsDuringOutage stops a view while its broker is away, as
// lookup's outage tests do: Run returns and every client of the view is
// gone. With sarama's consumer and topic manager this left a broker
// connection behind now and then (goleak after lookup's tests in CI).
func TestViewStopsDuringOutage(t *testing.T) {
	rb := kafkatest.StartRestartable(t)
	addrs := rb.Addrs()
	kafkatest.CreateTopic(t, addrs, "tbl", 4, nil)
	for p := range int32(4) {
		produceTo(t, addrs, "tbl", p, 0, 5)
	}
	leaks := noLeak(t)
	v, err := NewView("tbl", Options{Brokers: addrs, Storage: storage.MemoryBuilder()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- v.Run(ctx) }()
	kafkatest.WaitFor(t, 30*time.Second, v.Recovered)
	rb.Stop()
	time.Sleep(time.Second) // fetches fail; goka's partitions reconnect
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30 s after its context ended")
	}
	leaks()
	if got := fmt.Sprint(v.Offsets()); got != "map[0:4 1:4 2:4 3:4]" {
		t.Errorf("offsets %s, want 4 for each partition", got)
	}
}
