package topology_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Run promises that
// every goroutine it started has exited when it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-metrics (sarama's metrics registry) starts one process-wide ticker
		// goroutine on first use and never stops it.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		// sarama's producer opens a circuit breaker when it cannot find a partition's
		// leader (the broker is down); the breaker's timer goroutine sleeps out the
		// breaker's 10 s timeout, then exits. It is not stopped on Close.
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
	)
}
