package topology

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/metrics"
)

// fakeRecovery returns its steps in turn, then the last one forever.
type fakeRecovery struct {
	mu    sync.Mutex
	steps [][]gokax.Recovery
	calls int
}

func (f *fakeRecovery) Recovery(context.Context) []gokax.Recovery {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.steps[min(f.calls, len(f.steps))-1]
}

func (f *fakeRecovery) called() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestWatchRecovery feeds watchRecovery a recovery of two partitions that
// progresses and ends: the metrics follow every partition, and the progress
// log ends with one "restoring table done" line counting every restored record
// of the agent, and polling stops.
func TestWatchRecovery(t *testing.T) {
	f := &fakeRecovery{steps: [][]gokax.Recovery{
		{{Partition: 0, Restored: 0, Remaining: 100}, {Partition: 1, Restored: 10, Remaining: 20}},
		{{Partition: 0, Restored: 60, Remaining: 40}, {Partition: 1, Restored: 30, Done: true}},
		{{Partition: 0, Restored: 100, Done: true}, {Partition: 1, Restored: 30, Done: true}},
	}}
	var logs proctest.Buffer
	reg := metrics.New()
	c := newRunConfig([]Option{Metrics(reg), WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))})
	rt := newAgentRuntime(agentSpec{name: "a"}, c)
	stop := watchRecovery(t.Context(), rt, f, time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for f.called() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("watchRecovery did not poll 3 times within 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // time for polls it must not make
	stop()
	if n := f.called(); n != 3 {
		t.Errorf("watchRecovery polled %d times, want 3: it must stop once every partition recovered", n)
	}

	const want = `
# HELP sluice_recovery_remaining_records Changelog offsets an agent's table partition has yet to restore (0 once recovered); an upper bound, since compaction leaves gaps.
# TYPE sluice_recovery_remaining_records gauge
sluice_recovery_remaining_records{agent="a",partition="0"} 0
sluice_recovery_remaining_records{agent="a",partition="1"} 0
# HELP sluice_recovery_restored_records Changelog records restored into an agent's table partition since its recovery started.
# TYPE sluice_recovery_restored_records gauge
sluice_recovery_restored_records{agent="a",partition="0"} 100
sluice_recovery_restored_records{agent="a",partition="1"} 30
`
	if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want),
		"sluice_recovery_remaining_records", "sluice_recovery_restored_records"); err != nil {
		t.Error(err)
	}
	done := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `msg="restoring table done"`) {
			done++
			if !strings.Contains(line, "agent=a done=130 ") {
				t.Errorf("final line %q, want agent=a done=130", line)
			}
		}
	}
	if done != 1 {
		t.Errorf("logged %d 'restoring table done' lines, want 1:\n%s", done, logs.String())
	}
}
