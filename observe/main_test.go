package observe_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Serve and
// Lag promise that every goroutine they started has exited when they return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
