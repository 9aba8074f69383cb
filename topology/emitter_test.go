package topology_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

var events = topology.Stream[string]{Name: "events", Codec: topology.String()}

// impatient returns sluice's kafka configuration with a producer that gives up
// on a write about a second into a broker outage (Producer.Timeout); with the
// defaults it waits 10 s for a broker.
func impatient() *sarama.Config {
	cfg := gokax.Config()
	cfg.Producer.Timeout = time.Second
	return cfg
}

var failedRE = regexp.MustCompile(`(\d+) writes failed`)

// failures returns the count of failed writes that err, from Flush or Close,
// reports; 0 for nil.
func failures(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	m := failedRE.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error %q does not say how many writes failed", err)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestEmitterReportsEveryFailure closes the broker under an emitter while
// records are being written, with Emit and Send, and checks that no record is
// lost silently: every Emit returns nil only for a record that is then in the
// topic; Flush and Close report the exact number of failed Sends; a record
// whose Emit gave up waiting is reported by the next Flush.
func TestEmitterReportsEveryFailure(t *testing.T) {
	rb := startRestartable(t)
	kafkatest.CreateTopic(t, rb.addrs(), events.Name, 4, nil)
	e, err := topology.NewEmitter(events, topology.Brokers(rb.addrs()...), topology.KafkaConfig(impatient()))
	if err != nil {
		t.Fatalf("NewEmitter: %v", err)
	}
	ctx := t.Context()

	// Healthy: Sends are flushed without error, Emit returns nil.
	for i := range 100 {
		if err := e.Send("k", fmt.Sprintf("up-%d", i)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatalf("Flush with the broker up = %v, want nil", err)
	}
	if err := e.Write(ctx, "k", "up-emit"); err != nil {
		t.Fatalf("Emit with the broker up = %v, want nil", err)
	}

	// The broker goes away while records are written, one Emit and one Send a
	// millisecond, each under its own key; the records sent after the close
	// wait for a broker until Producer.Timeout runs out, and fail.
	const n, closeAt = 200, 150
	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed = map[string]error{}
		wg     sync.WaitGroup
	)
	closing, down := make(chan struct{}), make(chan struct{})
	sentBefore, sentAfter := 0, 0
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond) // pacing, not waiting for a result
		defer tick.Stop()
		for i := range n {
			<-tick.C
			if i == closeAt {
				close(closing)
			}
			select {
			case <-down:
				sentAfter++
			default:
				sentBefore++
			}
			if err := e.Send(strconv.Itoa(i), fmt.Sprintf("send-%d", i)); err != nil {
				t.Errorf("Send: %v", err)
			}
			wg.Go(func() {
				v := fmt.Sprintf("emit-%d", i)
				err := e.Write(ctx, strconv.Itoa(i), v)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					acked[v] = true
				} else {
					failed[v] = err
				}
			})
		}
	})
	<-closing
	rb.stop()
	close(down)
	wg.Wait()
	sendFailed := failures(t, e.Flush(ctx))
	for v, err := range failed {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("Emit(%s) = %v, want the producer's error, not the context's", v, err)
		}
	}
	if len(acked)+len(failed) != n {
		t.Errorf("%d Emits acknowledged + %d failed, want %d", len(acked), len(failed), n)
	}
	if len(failed) == 0 {
		t.Errorf("no Emit failed though the broker was down")
	}
	if sendFailed < sentAfter || sendFailed > sentBefore+sentAfter {
		t.Errorf("Flush reported %d failed Sends, want between the %d sent with the broker down and all %d",
			sendFailed, sentAfter, sentBefore+sentAfter)
	}

	// With the broker down: Emit fails with the producer's error; an Emit that
	// gives up waiting has its failure reported by Flush; every Send fails and
	// Close says exactly how many.
	start := time.Now()
	err = e.Write(ctx, "k", "down-emit")
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Emit with the broker down = %v, want an error", err)
	}
	t.Logf("Emit with the broker down failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	err = e.Write(short, "k", "down-abandoned")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Emit with a 20 ms deadline and the broker down = %v, want context.DeadlineExceeded", err)
	}
	if n := failures(t, e.Flush(ctx)); n != 1 {
		t.Errorf("Flush after an abandoned Emit reported %d failed writes, want 1: its outcome was lost", n)
	}
	const downSends = 40
	for i := range downSends {
		if err := e.Send(strconv.Itoa(i), fmt.Sprintf("down-%d", i)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if n := failures(t, e.Close()); n != downSends {
		t.Errorf("Close reported %d failed writes, want %d, the Sends while the broker was down", n, downSends)
	}
	if err := e.Close(); !errors.Is(err, topology.ErrEmitterClosed) {
		t.Errorf("second Close = %v, want ErrEmitterClosed", err)
	}
	if err := e.Send("k", "closed"); !errors.Is(err, topology.ErrEmitterClosed) {
		t.Errorf("Send after Close = %v, want ErrEmitterClosed", err)
	}
	if err := e.Write(ctx, "k", "closed"); !errors.Is(err, topology.ErrEmitterClosed) {
		t.Errorf("Emit after Close = %v, want ErrEmitterClosed", err)
	}

	// Back up: every acknowledged record is in the topic, and no record written
	// while the broker was down is.
	rb.start()
	in := map[string]bool{}
	for _, r := range kafkatest.ConsumeAll(t, rb.addrs(), events.Name) {
		in[string(r.Value)] = true
	}
	for v := range acked {
		if !in[v] {
			t.Errorf("Emit(%s) returned nil but the record is not in the topic", v)
		}
	}
	sendsIn := 0
	for i := range n {
		if in[fmt.Sprintf("send-%d", i)] {
			sendsIn++
		}
	}
	if sendsIn < sentBefore+sentAfter-sendFailed {
		t.Errorf("%d Sends are in the topic, want at least the %d not reported failed", sendsIn, sentBefore+sentAfter-sendFailed)
	}
	for i := range downSends {
		if in[fmt.Sprintf("down-%d", i)] {
			t.Fatalf("down-%d is in the topic, sent while the broker was down", i)
		}
	}
	t.Logf("broker closed mid-stream: %d of %d Emits acknowledged, %d failed; %d of %d Sends failed (%d sent after the close), %d in the topic",
		len(acked), n, len(failed), sendFailed, sentBefore+sentAfter, sentAfter, sendsIn)
}

// TestEmitterEncodeError pins that a value the codec cannot encode is refused
// at once, by Send and Emit, and is not counted as a failed write.
func TestEmitterEncodeError(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	s := topology.Stream[float64]{Name: "floats", Codec: topology.JSON[float64]()}
	kafkatest.CreateTopic(t, addrs, s.Name, 1, nil)
	e, err := topology.NewEmitter(s, topology.Brokers(addrs...))
	if err != nil {
		t.Fatalf("NewEmitter: %v", err)
	}
	if err := e.Send("k", math.NaN()); err == nil {
		t.Errorf("Send(NaN) = nil, want an encode error")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := e.Write(ctx, "k", math.Inf(1)); err == nil || ctx.Err() != nil {
		t.Errorf("Emit(+Inf) = %v, want an encode error at once", err)
	}
	if err := e.Send("k", 1.5); err != nil {
		t.Errorf("Send(1.5) = %v, want nil", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close = %v, want nil: encode errors were returned, no write failed", err)
	}
	if recs := kafkatest.ConsumeN(t, addrs, s.Name, 1); string(recs[0].Value) != "1.5" {
		t.Errorf("topic holds %q, want 1.5", recs[0].Value)
	}
}

// TestEmitterConcurrentFlush flushes while other goroutines send, as an
// emitter shared by HTTP handlers would be: every Send is accounted for.
func TestEmitterConcurrentFlush(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, events.Name, 2, nil)
	e, err := topology.NewEmitter(events, topology.Brokers(addrs...))
	if err != nil {
		t.Fatalf("NewEmitter: %v", err)
	}
	const senders, each = 4, 250
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if err := e.Send("k", fmt.Sprintf("%d-%d", s, i)); err != nil {
					t.Errorf("Send: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if err := e.Flush(t.Context()); err != nil {
				t.Errorf("Flush: %v", err)
			}
		}
	})
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	kafkatest.ConsumeN(t, addrs, events.Name, senders*each)
}
