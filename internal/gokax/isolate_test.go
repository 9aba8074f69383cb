package gokax

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestSuspectsTake pins how suspects are consumed: each once, and only
// itself. Forgetting the suspects before a record handled (as an earlier
// version did) lost them when the run that made them handled later records
// before it stopped: its replay wrote them in a batch again and was refused
// again (a second restart in 1 of ~100 runs of
// TestRefusedWriteCostsItsRecordAlone).
func TestSuspectsTake(t *testing.T) {
	var s Suspects
	s.add(map[topicPartition][]int64{{"in", 0}: {3, 5, 9}, {"in", 1}: {4}})
	for _, tc := range []struct {
		topic     string
		partition int32
		offset    int64
		want      bool
		left      int
	}{
		{"in", 0, 2, false, 4},
		{"in", 0, 10, false, 4}, // handled after the suspects, by the run that made them
		{"in", 0, 5, true, 3},
		{"in", 0, 5, false, 3},
		{"other", 0, 9, false, 3},
		{"in", 1, 4, true, 2},
		{"in", 0, 3, true, 1},
		{"in", 0, 9, true, 0},
	} {
		if got := s.take(tc.topic, tc.partition, tc.offset); got != tc.want || s.Len() != tc.left {
			t.Errorf("take(%s/%d@%d) = %v with %d left, want %v with %d", tc.topic, tc.partition, tc.offset, got, s.Len(), tc.want, tc.left)
		}
	}
}

// TestIsolatedWrite pins what the producer of processors ([kproducer]) does with the write
// of a record handled in isolation: the broker's refusal of it is the
// record's, reported by settle as ErrRefused while goka's promise succeeds
// (the processor goes on and the caller dead-letters the record), and
// nothing stops; any other failure fails the promise, is ErrWriteFailed, and
// stops the producer like every failed write.
func TestIsolatedWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   func(*broker.Broker)
		settled error // nil: written
		stops   bool
		want    string // the topic's records
	}{
		{"written", func(*broker.Broker) {}, nil, false, "[bad next]"},
		{"refused", func(b *broker.Broker) {
			b.Fail(kmsg.Produce, kerr.InvalidRecord, -1, func(req kmsg.Request) bool {
				for _, t := range req.(*kmsg.ProduceRequest).Topics {
					for _, p := range t.Partitions {
						if bytes.Contains(p.Records, []byte("bad")) {
							return true
						}
					}
				}
				return false
			})
		}, ErrRefused, false, "[next]"},
		// Not a refusal, and not retriable (franz-go retries those).
		{"broker error", func(b *broker.Broker) { b.Fail(kmsg.Produce, kerr.TopicAuthorizationFailed, 1, nil) }, ErrWriteFailed, true, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.Start(t)
			addrs := b.Addrs()
			kafkatest.CreateTopic(t, addrs, "out", 1, nil)
			iso := &procIsolation{suspects: new(Suspects), commits: new(commits), log: slog.New(slog.DiscardHandler)}
			k := newKproc(addrs, Config(), "g", nil)
			k.iso = iso
			p, err := k.producerBuilder()(addrs, "test", Hasher)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			tc.fault(b)
			r := iso.isolation.start()
			defer r.end()
			done := make(chan error, 1)
			p.EmitWithHeaders("out", "k", []byte("bad"), goka.Headers{isolateHeader: []byte(r.id), "h": []byte("v")}).Then(func(err error) { done <- err })
			settled := r.settle(t.Context())
			promised := wait(t, "bad", done)
			if !errors.Is(settled, tc.settled) || (tc.settled == nil) != (settled == nil) {
				t.Errorf("settle = %v, want %v", settled, tc.settled)
			}
			if wantPromise := tc.stops; (promised != nil) != wantPromise {
				t.Errorf("goka's promise = %v, want failed %v", promised, wantPromise)
			}
			done = make(chan error, 1)
			p.Emit("out", "k", []byte("next")).Then(func(err error) { done <- err })
			if err := wait(t, "next", done); errors.Is(err, ErrProducerStopped) != tc.stops {
				t.Errorf("the next write: %v, want stopped %v", err, tc.stops)
			}
			var got []string
			for _, rec := range kafkatest.ConsumeAll(t, addrs, "out") {
				got = append(got, string(rec.Value))
				for _, h := range rec.Headers {
					if h.Key == isolateHeader {
						t.Errorf("record %q carries %s", rec.Value, isolateHeader)
					}
				}
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("topic holds %v, want %s", got, tc.want)
			}
		})
	}
}

// wait returns the outcome of the write of value that done reports.
func wait(t *testing.T, value string, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("write of %q unanswered after a minute", value)
		return nil
	}
}
