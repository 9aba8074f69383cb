package window_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: harnesses
// and agents run on the broker must stop when their test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
