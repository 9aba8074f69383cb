package featurestore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

// TestMain fails the package if a test leaves a goroutine running: harnesses,
// agents, views and servers must stop when their test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kafkareal.Main(m))
}
