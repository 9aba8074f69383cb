package visa_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestConcurrentLevelsOnBroker runs every level with the LLM decider against a
// fake model that answers in 200 ms, with a concurrency of 16, and pins what the
// concurrency is for and what it must keep:
//   - the model's calls overlap within partitions: at every level more calls are
//     in flight at once than the level has partitions, which one call at a time
//     per partition (plain Consume) can never reach;
//   - every application gets exactly one final decision per submission, along
//     its route;
//   - per-key order and memory: an application sent twice in a row is decided
//     twice, the second time with times_seen 2 and a note at every level;
//   - the submission time is the input record's timestamp, not the time of the
//     loop record that carries the finding.
func TestConcurrentLevelsOnBroker(t *testing.T) {
	const (
		apps        = 64
		twice       = 8 // the first twice apps are sent a second time
		latency     = 200 * time.Millisecond
		concurrency = 16
	)
	var mu sync.Mutex
	inFlight, peak := map[string]int{}, map[string]int{}
	m := newFakeModel(t, func(_ int64, req modelRequest) modelReply {
		mu.Lock()
		inFlight[req.Level]++
		peak[req.Level] = max(peak[req.Level], inFlight[req.Level])
		mu.Unlock()
		time.Sleep(latency) // the model thinking
		mu.Lock()
		inFlight[req.Level]--
		mu.Unlock()
		return rulesAnswer(req)
	})
	g, err := visa.GraphConcurrent(newLLM(t, m, func(c *visa.LLMConfig) { c.Timeout = 30 * time.Second }), concurrency)
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	tl := newTail(t, addrs, append([]string{visa.Final.Name}, deadLetterTopics()...)...)
	stop := running(t, g, addrs, t.TempDir())

	submittedAt := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var ids []string
	var recs []*kgo.Record
	for i := range apps {
		id := fmt.Sprintf("C-%03d", i)
		ids = append(ids, id)
		b, _ := json.Marshal(llmApp(id))
		n := 1
		if i < twice {
			n = 2
		}
		for range n {
			recs = append(recs, &kgo.Record{Topic: visa.Applications.Name, Key: []byte(id), Value: b, Timestamp: submittedAt})
		}
	}
	begin := time.Now()
	kafkatest.Produce(t, addrs, visa.Applications.Name, recs...)
	kafkatest.WaitFor(t, 3*time.Minute, func() bool {
		for i, id := range ids {
			if want := map[bool]int{true: 2, false: 1}[i < twice]; len(tl.records(visa.Final.Name, id)) < want {
				return false
			}
		}
		return true
	})
	took := time.Since(begin)
	stop()
	tl.drain(t)

	partitions := topology.DefaultPartitions
	mu.Lock()
	t.Logf("%d submissions of %d applications through 4 levels, model latency %v, concurrency %d on %d partitions: decided in %v; peak calls in flight per level %v (a level one call at a time per partition would need at least %v)",
		len(recs), apps, latency, concurrency, partitions, took.Round(time.Millisecond), peak,
		time.Duration(len(recs)/partitions)*latency)
	for _, l := range []string{"A", "B", "C", "D"} {
		if peak[l] <= partitions || peak[l] > partitions*concurrency {
			t.Errorf("level %s: at most %d model calls in flight at once, want more than its %d partitions and at most %d",
				l, peak[l], partitions, partitions*concurrency)
		}
	}
	mu.Unlock()

	all := []string{"A", "B", "C", "D"}
	for i, id := range ids {
		fs := tl.finals(t, id)
		want := 1
		if i < twice {
			want = 2
		}
		if len(fs) != want {
			t.Errorf("%s: %d final decisions, want %d", id, len(fs), want)
			continue
		}
		for n, f := range fs {
			if f.Decision != visa.Approved || !slices.Equal(pathLevels(f.Path), all) {
				t.Errorf("%s decision %d: %s via %v, want approved via %v", id, n+1, f.Decision, pathLevels(f.Path), all)
			}
			if !f.SubmittedAt.Equal(submittedAt) {
				t.Errorf("%s decision %d: submitted_at %v, want the record's timestamp %v", id, n+1, f.SubmittedAt, submittedAt)
			}
			for _, s := range f.Path {
				if s.TimesSeen != n+1 || (n == 1) != (s.Note != "") {
					t.Errorf("%s decision %d at level %s: times_seen %d, note %q; want %d and a note only the second time",
						id, n+1, s.Level, s.TimesSeen, s.Note, n+1)
				}
			}
		}
	}
	for _, topic := range deadLetterTopics() {
		if keys, _ := tl.count(topic); keys > 0 {
			t.Errorf("%s has %d dead letters, want none", topic, keys)
		}
	}
}
