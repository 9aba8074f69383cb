package observe_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Serve and
// Lag promise that every goroutine they started has exited when they return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-metrics (sarama's metrics registry) starts one process-wide ticker
		// goroutine on first use and never stops it.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		// sarama's circuit breaker timer sleeps out its timeout after Close.
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
	)
}
