package gokax

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestLookupsOutliveTheProcessor keeps every partition of a processor inside
// callbacks that read its lookup table and stops the processor both ways:
// through its context, and by failing by itself (a panicking callback, which
// goka turns into a processor error while the other partitions go on). The
// views are the processor's own and stop after it, so no lookup may fail;
// Run returns nil for the stop and the callback's error for the failure.
// With goka's own views, closed as soon as the processor's context ends, a
// gate had to turn the lookups after a stop away: this test saw them fail.
func TestLookupsOutliveTheProcessor(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "stopped", true: "fails by itself"}[fail]
		t.Run(name, func(t *testing.T) {
			addrs := kafkatest.Start(t).Addrs()
			kafkatest.CreateTopic(t, addrs, "in", 4, nil)
			kafkatest.CreateTopic(t, addrs, "routes", 4, nil)
			kafkatest.Produce(t, addrs, "routes", &kgo.Record{Key: []byte("k"), Value: []byte("v")})

			var looked atomic.Int64
			var lookupErr atomic.Pointer[error]
			g := Group{Name: "g", Lookups: []string{"routes"}, Inputs: []Input{{Topic: "in", Handle: func(m *Msg, v []byte) {
				if string(v) == "boom" {
					panic("boom")
				}
				for end := time.Now().Add(2 * time.Millisecond); time.Now().Before(end); {
					b, err := m.Lookup("routes", "k")
					if err == nil && string(b) != "v" {
						err = errors.New("lookup of k: got " + string(b) + ", want v")
					}
					if err != nil {
						lookupErr.CompareAndSwap(nil, &err)
						return
					}
					looked.Add(1)
				}
			}}}}
			p, err := NewProcessor(g, Options{Brokers: addrs, Storage: storage.MemoryBuilder()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()

			cl := kafkatest.Client(t, addrs, kgo.DefaultProduceTopic("in"), kgo.ProducerLinger(0))
			sending, stopSending := context.WithCancel(t.Context())
			defer stopSending()
			go func() {
				for i := 0; sending.Err() == nil; i++ {
					cl.Produce(sending, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("x")}, nil)
					time.Sleep(200 * time.Microsecond)
				}
			}()
			kafkatest.WaitFor(t, time.Minute, func() bool { return looked.Load() > 2000 })
			if fail {
				cl.Produce(t.Context(), &kgo.Record{Key: []byte("boom"), Value: []byte("boom")}, nil)
			} else {
				cancel()
			}
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Run did not return within a minute")
			}
			stopSending()
			if fail && (err == nil || !strings.Contains(err.Error(), "boom")) {
				t.Errorf("Run: %v, want the callback's panic", err)
			}
			if !fail && err != nil {
				t.Errorf("Run after its context ended: %v, want nil", err)
			}
			if e := lookupErr.Load(); e != nil {
				t.Errorf("a lookup failed while the processor ran or stopped: %v", *e)
			}
		})
	}
}
