package kafkatest

import (
	"testing"
	"time"
)

// pollEvery is how often WaitFor checks its condition.
const pollEvery = 10 * time.Millisecond

// WaitFor calls cond every 10 ms until it returns true, and fails t if that
// does not happen within timeout or before the test's context ends. cond
// runs on the test's goroutine, so it may call t.Fatal.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("condition not met within %v", timeout)
		case <-t.Context().Done():
			t.Fatalf("condition not met before the test ended: %v", t.Context().Err())
		case <-tick.C:
		}
	}
}
