package broker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestFaults pins what each fault does to the produce requests it matches
// and that it stops once used up or removed: the next produce succeeds.
// (an uncapped kgo names topics by ID in its produce requests, which
// ForTopic does not match; the fault matrix in topology uses it with sluice's
// clients, capped at a protocol version that names them.)
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(b *broker.Broker) *broker.Fault
		want   error // of the first produce; nil: it succeeds (after the fault)
	}{
		{"fail", func(b *broker.Broker) *broker.Fault {
			return b.Fail(kmsg.Produce, kerr.InvalidRecord, 1, nil)
		}, kerr.InvalidRecord},
		{"fail until removed", func(b *broker.Broker) *broker.Fault {
			return b.Fail(kmsg.Produce, kerr.InvalidRecord, -1, nil)
		}, kerr.InvalidRecord},
		{"drop", func(b *broker.Broker) *broker.Fault {
			return b.Drop(kmsg.Produce, 1, nil)
		}, nil}, // the client retries on a new connection
		{"stall", func(b *broker.Broker) *broker.Fault {
			return b.Stall(kmsg.Produce, 100*time.Millisecond, nil)
		}, nil},
		{"no match", func(b *broker.Broker) *broker.Fault {
			return b.Fail(kmsg.Produce, kerr.InvalidRecord, 1, func(kmsg.Request) bool { return false })
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.Start(t)
			kafkatest.CreateTopic(t, b.Addrs(), "t", 1, nil)
			cl := kafkatest.Client(t, b.Addrs(), kgo.DefaultProduceTopic("t"))
			f := tc.inject(b)
			err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("1")}).FirstErr()
			if !errors.Is(err, tc.want) {
				t.Fatalf("first produce = %v, want %v", err, tc.want)
			}
			hits := 1
			if tc.name == "no match" {
				hits = 0
			}
			if got := f.Hits(); got != hits {
				t.Errorf("Hits() = %d, want %d", got, hits)
			}
			f.Remove()
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("2")}).FirstErr(); err != nil {
				t.Fatalf("produce after the fault = %v, want nil", err)
			}
			if got := f.Hits(); got != hits {
				t.Errorf("Hits() after the fault = %d, want %d", got, hits)
			}
		})
	}
}
