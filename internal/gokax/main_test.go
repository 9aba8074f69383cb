package gokax

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestMain fails the package if a test leaves a goroutine running: every
// client a consumer, topic manager, producer or view opens must be closed
// with it. go-metrics' meter ticker is not: TestNoMetrics builds a real
// meter to show that sarama's registry replaces it, and the ticker it
// starts runs for the life of the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, kafkatest.IgnoreMetricsTicker)
}

// noLeak returns a check, for the end of a test, that no client goroutine
// (franz-go's, sarama's or this package's) started after the call is still
// running: what the test closed left nothing. The embedded broker's own
// goroutines, which outlive a client's connections for a moment, are not
// counted; TestMain counts everything at the end.
func noLeak(t *testing.T) func() {
	t.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g[:strings.IndexByte(g, '[')]] = true
	}
	return func() {
		t.Helper()
		var left []string
		for deadline := time.Now().Add(5 * time.Second); ; {
			left = left[:0]
			for _, g := range goroutines() {
				if !before[g[:strings.IndexByte(g, '[')]] && (strings.Contains(g, "franz-go/pkg/kgo.") ||
					strings.Contains(g, "IBM/sarama.") || strings.Contains(g, "internal/gokax.")) &&
					!strings.Contains(g, "internal/gokax.goroutines") {
					left = append(left, g)
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("%d client goroutines left; the first:\n%s", len(left), left[0])
		}
	}
}

// goroutines returns the stacks of every goroutine, each starting with
// "goroutine N [".
func goroutines() []string {
	buf := make([]byte, 1<<22)
	return strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
}
