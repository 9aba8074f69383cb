package topologytest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: a Harness stops
// its processors when its test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
