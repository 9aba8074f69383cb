package kafkatest

import (
	"testing"

	"github.com/sluicehq/sluice/internal/broker"
)

// Start starts an embedded broker persisted in a fresh t.TempDir(), closes it
// in t.Cleanup, and returns it. opts are applied after the data dir, so a
// [broker.DataDir] among them wins. A failure to start or to close fails t.
func Start(t testing.TB, opts ...broker.Option) *broker.Broker {
	t.Helper()
	opts = append([]broker.Option{broker.DataDir(t.TempDir())}, opts...)
	b, err := broker.Start(opts...)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}
