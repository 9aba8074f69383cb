package inference_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestMain fails the package if a test leaves a goroutine running. The one
// exception is go-metrics' meter ticker, a process-wide singleton that sarama
// starts with its first client and nothing stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, kafkatest.IgnoreMetricsTicker)
}
