package gokax

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// saramaLeft returns the stacks of the goroutines running sarama code, once
// there are none or after a second.
func saramaLeft() []string {
	deadline := time.Now().Add(time.Second)
	for {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/IBM/sarama.") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkNoSarama fails t if sarama goroutines are still running.
func checkNoSarama(t *testing.T, after string) {
	t.Helper()
	if left := saramaLeft(); len(left) > 0 {
		t.Errorf("%d sarama goroutines still running %s; the first:\n%s", len(left), after, left[0])
	}
}

// receiversGone waits until no sarama broker connection of the process
// is open (no responseReceiver goroutine runs).
func receiversGone(t *testing.T) {
	t.Helper()
	kafkatest.WaitFor(t, 10*time.Second, func() bool {
		buf := make([]byte, 1<<22)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*Broker).responseReceiver")
	})
}

// TestClientCloseDuringRetry pins that a client closed while one of its
// metadata refreshes waits to retry opens no connection afterwards. sarama
// retries without checking that its client closed, finds no broker left but
// the seeds, and opens one that nothing closes: its responseReceiver
// goroutine and connection stay for good (goleak found one after the fraud
// and visa tests). The refresh is held in its backoff until the client has
// closed and every connection it had is closed, which makes the order
// certain.
func TestClientCloseDuringRetry(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	checkNoSarama(t, "before the test")
	retrying, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg := Config()
	cfg.Metadata.Retry.Max = 1
	cfg.Metadata.Retry.BackoffFunc = func(int, int) time.Duration {
		once.Do(func() {
			close(retrying)
			<-proceed
		})
		return 0
	}
	tm, err := TopicManagerBuilder(cfg)(addrs)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		// An unknown topic: sarama refreshes its metadata, then retries.
		_, err := tm.GetOffset("no-such-topic", 0, sarama.OffsetNewest)
		got <- err
	}()
	<-retrying
	if err := tm.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	receiversGone(t) // sarama closed what the client had open
	close(proceed)
	t.Logf("offset of a topic that does not exist, read across the close: %v", <-got)
	checkNoSarama(t, "after the client closed and its refresh returned")
}

// TestClientCloseDuringStalledOpen pins that Close waits for a broker
// connection being opened, here held by a stalled broker. sarama opens a
// connection in a goroutine and its Close does not wait for it: the
// connection was opened, and closed, only when the broker answered, for as
// long as the stall after Close returned. Close now cuts the connection and
// returns once sarama closed it.
func TestClientCloseDuringStalledOpen(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	checkNoSarama(t, "before the test")
	cl, err := newClient(addrs, Config())
	if err != nil {
		t.Fatal(err)
	}
	// The client has its seed broker open; the broker's own ID is a broker
	// of its own to sarama, which Controller opens, and its first request
	// stalls.
	f := b.Stall(kmsg.ApiVersions, 5*time.Second, func(req kmsg.Request) bool {
		return req.(*kmsg.ApiVersionsRequest).ClientSoftwareName == "sarama"
	})
	if _, err := cl.Controller(); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 10*time.Second, func() bool { return f.Hits() > 0 })
	start := time.Now()
	if err := cl.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	t.Logf("closed in %v during a 5 s stall", time.Since(start).Round(time.Millisecond))
	checkNoSarama(t, "after Close returned")
}
