package kafkatest_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

func records(n int) (recs []*kgo.Record, kv map[string]string) {
	kv = make(map[string]string)
	for i := range n {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		kv[k] = v
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(v)})
	}
	return recs, kv
}

func keyValues(recs []*kgo.Record) map[string]string {
	kv := make(map[string]string)
	for _, r := range recs {
		kv[string(r.Key)] = string(r.Value)
	}
	return kv
}

// TestRoundTrip pins that what Produce writes to a multi-partition topic,
// ConsumeN and ConsumeAll read back in full.
func TestRoundTrip(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "t", 3, nil)
	recs, want := records(10)
	kafkatest.Produce(t, addrs, "t", recs...)

	if got := keyValues(kafkatest.ConsumeN(t, addrs, "t", 10)); !maps.Equal(got, want) {
		t.Fatalf("ConsumeN = %v, want %v", got, want)
	}
	if got := keyValues(kafkatest.ConsumeAll(t, addrs, "t")); !maps.Equal(got, want) {
		t.Fatalf("ConsumeAll = %v, want %v", got, want)
	}
}

// TestConsumeAllEmptyTopic pins that ConsumeAll of an empty topic returns at
// once instead of waiting for records.
func TestConsumeAllEmptyTopic(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "t", 2, nil)
	if got := kafkatest.ConsumeAll(t, addrs, "t"); len(got) != 0 {
		t.Fatalf("ConsumeAll of an empty topic = %d records, want 0", len(got))
	}
}

// TestConsumeNFailures pins that ConsumeN fails, rather than hangs or
// passes, when records are missing or more arrive than asked for.
func TestConsumeNFailures(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	kafkatest.CreateTopic(t, addrs, "t", 1, nil)
	recs, _ := records(3)
	kafkatest.Produce(t, addrs, "t", recs...)

	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		n    int
		want string
	}{
		{"too few", short, 4, "context deadline exceeded"},
		{"too many", nil, 2, "got 3 records, want 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := fatal(t, tc.ctx, func(tb testing.TB) { kafkatest.ConsumeN(tb, addrs, "t", tc.n) })
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("ConsumeN(%d) failed with %q, want it to mention %q", tc.n, msg, tc.want)
			}
		})
	}
}

// TestWaitFor pins that WaitFor returns once the condition holds and fails
// at its deadline when it never does.
func TestWaitFor(t *testing.T) {
	calls := 0
	kafkatest.WaitFor(t, time.Second, func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("condition called %d times, want 3", calls)
	}

	start := time.Now()
	msg := fatal(t, nil, func(tb testing.TB) { kafkatest.WaitFor(tb, 50*time.Millisecond, func() bool { return false }) })
	if !strings.Contains(msg, "not met within 50ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("WaitFor on a false condition failed with %q after %v, want a failure at 50ms", msg, time.Since(start))
	}
}
