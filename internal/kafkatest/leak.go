package kafkatest

import "go.uber.org/goleak"

// IgnoreMetricsTicker is the goleak option of every test package whose tests
// run sarama clients (goka processors, views, emitters): it ignores
// go-metrics' meter ticker, one goroutine per process that nothing stops.
// sluice gives sarama a metrics registry that keeps nothing, but sarama
// v1.46.3 sizes each fetch request with a nil registry, and go-metrics then
// registers a meter per fetched topic in its default registry and starts the
// ticker.
var IgnoreMetricsTicker = goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")
