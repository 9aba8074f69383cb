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
// on a write about a second into a broker outage; with the defaults sarama
// retries for over 20 s.
func impatient() *sarama.Config {
	cfg := gokax.Config()
	cfg.Producer.Retry.Max = 1
	cfg.Metadata.Retry.Max = 1
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
	if err := e.Emit(ctx, "k", "up-emit"); err != nil {
		t.Fatalf("Emit with the broker up = %v, want nil", err)
	}

	// The broker goes away while 4 goroutines Emit and one Sends, one record
	// per millisecond each.
	const perWriter = 400
	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed = map[string]error{}
		wg     sync.WaitGroup
	)
	closeAt := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := range perWriter {
				if i == perWriter/2 && w == 0 {
					close(closeAt)
				}
				v := fmt.Sprintf("emit-%d-%d", w, i)
				ectx, cancel := context.WithTimeout(ctx, time.Minute)
				err := e.Emit(ectx, strconv.Itoa(i), v)
				cancel()
				mu.Lock()
				if err == nil {
					acked[v] = true
				} else {
					failed[v] = err
				}
				mu.Unlock()
				if err == nil {
					time.Sleep(time.Millisecond) // pacing, not waiting for a result
				}
			}
		})
	}
	down := make(chan struct{})
	sentBefore, sentAfter := 0, 0
	wg.Go(func() {
		for i := range perWriter {
			after := false
			select {
			case <-down:
				after = true
			default:
			}
			if err := e.Send(strconv.Itoa(i), fmt.Sprintf("send-%d", i)); err != nil {
				t.Errorf("Send: %v", err)
			}
			if after {
				sentAfter++
			} else {
				sentBefore++
			}
			time.Sleep(time.Millisecond) // pacing, not waiting for a result
		}
	})
	<-closeAt
	rb.stop()
	close(down)
	wg.Wait()
	t.Logf("T wg done %v", time.Now())
	sendFailed := failures(t, e.Flush(ctx))
	t.Logf("T flushed %v", time.Now())
	for v, err := range failed {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("Emit(%s) = %v, want the producer's error, not the context's", v, err)
		}
	}
	if len(acked)+len(failed) != 4*perWriter {
		t.Errorf("%d Emits acknowledged + %d failed, want %d", len(acked), len(failed), 4*perWriter)
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
	err = e.Emit(ctx, "k", "down-emit")
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Emit with the broker down = %v, want an error", err)
	}
	t.Logf("Emit with the broker down failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	err = e.Emit(short, "k", "down-abandoned")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Emit with a 20 ms deadline and the broker down = %v, want context.DeadlineExceeded", err)
	}
	if n := failures(t, e.Flush(ctx)); n != 1 {
		t.Errorf("Flush after an abandoned Emit reported %d failed writes, want 1: its outcome was lost", n)
	}
	const downSends = 300
	for i := range downSends {
		if err := e.Send("k", fmt.Sprintf("down-%d", i)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	t.Logf("T before close %v", time.Now())
	cerr := e.Close()
	t.Logf("T after close %v", time.Now())
	if n := failures(t, cerr); n != downSends {
		t.Errorf("Close reported %d failed writes, want %d, the Sends while the broker was down", n, downSends)
	}
	if err := e.Close(); !errors.Is(err, topology.ErrEmitterClosed) {
		t.Errorf("second Close = %v, want ErrEmitterClosed", err)
	}
	if err := e.Send("k", "closed"); !errors.Is(err, topology.ErrEmitterClosed) {
		t.Errorf("Send after Close = %v, want ErrEmitterClosed", err)
	}
	if err := e.Emit(ctx, "k", "closed"); !errors.Is(err, topology.ErrEmitterClosed) {
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
	for i := range perWriter {
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
		len(acked), 4*perWriter, len(failed), sendFailed, sentBefore+sentAfter, sentAfter, sendsIn)
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
	if err := e.Emit(t.Context(), "k", math.Inf(1)); err == nil {
		t.Errorf("Emit(+Inf) = nil, want an encode error")
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
