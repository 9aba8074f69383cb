package featurestore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestMain fails the package if a test leaves a goroutine running: harnesses,
// agents, views and servers must stop when their test ends. The one
// exception is go-metrics' meter ticker, a process-wide singleton that a
// sarama client starts and nothing stops (see kafkatest.IgnoreMetricsTicker).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kafkareal.Main(m), kafkatest.IgnoreMetricsTicker)
}
