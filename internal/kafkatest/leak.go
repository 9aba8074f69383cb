package kafkatest

import "go.uber.org/goleak"

// IgnoreMetricsTicker is a goleak option that ignores go-metrics' meter
// ticker, one goroutine per process that nothing stops. A sarama v1.46.3
// client starts it even with sluice's registry that keeps nothing: it sizes
// each fetch request with a nil registry, and go-metrics then registers a
// meter per fetched topic in its default registry. sluice runs no sarama
// client now (every client is franz-go's), so only a test that builds one
// of its own starts it: internal/connect's and internal/gokax's pass it,
// and no other package may.
var IgnoreMetricsTicker = goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")
