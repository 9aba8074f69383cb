package lookup_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: servers,
// views and agents must stop when their test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
