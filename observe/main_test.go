package observe_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestMain fails the package if a test leaves goroutines behind: Serve and
// Lag promise that every goroutine they started has exited when they return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		kafkatest.IgnoreMetricsTicker,
		// sarama's circuit breaker timer sleeps out its timeout after Close
		// (from when views ran on sarama; no sarama client runs now).
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
	)
}
