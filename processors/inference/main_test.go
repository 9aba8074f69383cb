package inference_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestMain fails the package if a test leaves a goroutine running. The one
// exception is go-metrics' meter ticker, a process-wide singleton that a
// sarama client starts and nothing stops (see kafkatest.IgnoreMetricsTicker).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, kafkatest.IgnoreMetricsTicker)
}
