package window_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestMain fails the package if a test leaves a goroutine running: harnesses
// and agents run on the broker must stop when their test ends (but for
// go-metrics' ticker: see kafkatest.IgnoreMetricsTicker).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, kafkatest.IgnoreMetricsTicker)
}
