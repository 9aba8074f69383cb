package topology_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

// TestMain fails the package if a test leaves goroutines behind: Run promises that
// every goroutine it started has exited when it returns. The Apache Kafka
// cluster of the conformance tests (kafkatest.EachBroker) stops before the
// check.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kafkareal.Main(m))
}
