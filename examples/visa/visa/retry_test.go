package visa_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// samePartition returns n application IDs with prefix whose records land on
// the partition of id among the default 4.
func samePartition(id, prefix string, n int) []string {
	want := topology.Partition(id, topology.DefaultPartitions)
	var out []string
	for i := 0; len(out) < n; i++ {
		c := fmt.Sprintf("%s-%d", prefix, i)
		if topology.Partition(c, topology.DefaultPartitions) == want {
			out = append(out, c)
		}
	}
	return out
}

// TestRetryOnTimer runs the levels with the LLM decider against the fake
// model, retrying on timers: level A's first call about one application is
// rate limited (429, Retry-After 6 s), about another it times out (then a
// backoff of 5 s). Both wait on a timer while the twenty applications behind
// them on the same partition are decided; then they are asked again and
// approved. With one call at a time per partition (the partition would
// otherwise wait) and with four. The waits are long beside the twenty
// decisions (a few hundred ms on a quiet machine) so that a machine slowed
// by the race detector and other work does not read as a waiting partition:
// with a 3 s Retry-After and a 2 s backoff, ok-66 passed level A 1.3 s after
// limited-0's retry once, at load 40.
func TestRetryOnTimer(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprint("concurrency=", conc), func(t *testing.T) { retryOnTimer(t, conc) })
	}
}

func retryOnTimer(t *testing.T, conc int) {
	var mu sync.Mutex
	calls := map[string][]time.Time{} // id/level -> call times
	m := newFakeModel(t, func(_ int64, req modelRequest) modelReply {
		id := req.App.ApplicationID
		mu.Lock()
		calls[id+"/"+req.Level] = append(calls[id+"/"+req.Level], time.Now())
		first := len(calls[id+"/"+req.Level]) == 1
		mu.Unlock()
		switch {
		case strings.HasPrefix(id, "limited") && req.Level == "A" && first:
			return modelReply{Status: 429, ErrMessage: "rate limited", Header: map[string]string{"Retry-After": "6"}}
		case strings.HasPrefix(id, "slow") && req.Level == "A" && first:
			return modelReply{Delay: time.Minute}
		}
		return rulesAnswer(req)
	})
	d := newLLM(t, m, func(c *visa.LLMConfig) {
		c.Timeout, c.Attempts, c.Backoff, c.MaxBackoff = 500*time.Millisecond, 3, 5*time.Second, 10*time.Second
	})
	g, err := visa.GraphWith(d, visa.Options{Concurrency: conc, Retry: true})
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	tl := newTail(t, addrs, visa.Final.Name)
	running(t, g, addrs, t.TempDir())

	waiting := []string{"limited-0", "slow-0"}
	others := samePartition("limited-0", "ok", 20)
	if topology.Partition("slow-0", 4) != topology.Partition("limited-0", 4) {
		others = append(others, samePartition("slow-0", "ok-slow", 10)...)
	}
	var recs []*kgo.Record
	for _, id := range append(slices.Clone(waiting), others...) { // the waiting ones first on their partitions
		b, _ := json.Marshal(valid(id, "business"))
		recs = append(recs, &kgo.Record{Key: []byte(id), Value: b})
	}
	kafkatest.Produce(t, addrs, visa.Applications.Name, recs...)
	tl.wait(t, time.Minute, visa.Final.Name, append(slices.Clone(waiting), others...))

	mu.Lock()
	defer mu.Unlock()
	for _, id := range waiting {
		fs := tl.finals(t, id)
		if len(fs) != 1 || fs[0].Decision != visa.Approved {
			t.Fatalf("%s: finals %+v, want one approval", id, fs)
		}
		a := calls[id+"/A"]
		if len(a) != 2 {
			t.Fatalf("%s: %d calls at level A, want 2 (the first failed)", id, len(a))
		}
		retried := fs[0].Path[0].Time // level A's step: after the second call
		for _, o := range others {
			// Level A handled it while the waiting one waited (the rest of
			// its path may take longer on a busy machine).
			if f := tl.finals(t, o); len(f) != 1 || !f[0].Path[0].Time.Before(a[1]) {
				t.Errorf("%s passed level A at %v, not before %s was asked again at %v: the partition waited", o, f[0].Path[0].Time, id, a[1])
			}
		}
		t.Logf("%s: first call %v, second %v (+%v), level A's step %v", id, a[0].Format("15:04:05.000"),
			a[1].Format("15:04:05.000"), a[1].Sub(a[0]).Round(time.Millisecond), retried.Format("15:04:05.000"))
	}
	if lim := calls["limited-0/A"]; lim[1].Sub(lim[0]) < 6*time.Second {
		t.Errorf("limited-0 was asked again %v after the 429, want at least its Retry-After of 6 s", lim[1].Sub(lim[0]))
	}
	if st := d.Stats(); st.Deferred < 2 {
		t.Errorf("decider stats %+v, want 2 retries left to timers", st)
	}
	checkRetryTrace(t, addrs, "limited-0", "HTTP 429")
	checkRetryTrace(t, addrs, "slow-0", "no answer within 500ms")
}

// checkRetryTrace checks that visa trace shows id's retry at level A: one
// document on A's retry queue, the second attempt, with the first attempt's
// failure (which says reason), after the application was received and
// before level A passed it on, and then the approval.
func checkRetryTrace(t *testing.T, addrs []string, id, reason string) {
	t.Helper()
	evs, err := visa.Trace(t.Context(), []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, id)
	if err != nil {
		t.Fatalf("Trace(%s) = %v", id, err)
	}
	var out strings.Builder
	if err := visa.WriteTrace(&out, id, evs); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range evs {
		switch {
		case e.Kind == visa.EventRetry:
			order = append(order, e.Kind)
			if e.Level != "A" || e.Next != "A" || e.Topic != visa.RetryQueueName("A") || e.Decision != "attempt 2" ||
				len(e.Reasons) != 1 || !strings.Contains(e.Reasons[0], "attempt 1 for level A: "+reason) {
				t.Errorf("%s: retry event %+v, want attempt 2 on %s, level A to A, with the first attempt's failure (%s)",
					id, e, visa.RetryQueueName("A"), reason)
			}
		case e.Kind == visa.EventReceived, e.Kind == visa.EventQueued && e.Level == "A":
			order = append(order, e.Kind)
		}
	}
	if want := []string{visa.EventReceived, visa.EventRetry, visa.EventQueued}; !slices.Equal(order, want) {
		t.Errorf("%s: trace has %q, want %q (received, retried at A, passed on by A):\n%s", id, order, want, out.String())
	}
	for _, want := range []string{visa.RetryQueueName("A"), "A -> A", "retry", "attempt 2", "outcome: approved at level "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: trace lacks %q:\n%s", id, want, out.String())
		}
	}
	t.Logf("visa trace %s:\n%s", id, out.String())
}
