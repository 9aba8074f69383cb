package gokax

import (
	"reflect"

	"github.com/rcrowley/go-metrics"
)

// noMetrics is a go-metrics registry that keeps nothing: every meter,
// histogram and counter sarama asks it for is go-metrics' no-op one. [Config]
// sets it as sarama's MetricRegistry (see there for why). Unlike go-metrics'
// global UseNilMetrics, it changes nothing outside the clients built with it.
type noMetrics struct{}

var (
	meterType     = reflect.TypeFor[metrics.Meter]()
	histogramType = reflect.TypeFor[metrics.Histogram]()
	counterType   = reflect.TypeFor[metrics.Counter]()
)

// GetOrRegister returns the no-op metric of the kind m is or, if m is a
// constructor (as sarama passes), of the kind it returns, without calling it:
// a real meter would join go-metrics' global ticker for good. Any other kind
// (sarama v1.46.3 asks for none) is returned as it is, or constructed.
func (noMetrics) GetOrRegister(_ string, m any) any {
	// sarama asks per fetched partition and per produced batch: the kinds it
	// passes are matched without reflection.
	switch m.(type) {
	case func() metrics.Meter, metrics.Meter:
		return metrics.NilMeter{}
	case func() metrics.Histogram, metrics.Histogram:
		return metrics.NilHistogram{}
	case func() metrics.Counter, metrics.Counter:
		return metrics.NilCounter{}
	}
	t := reflect.TypeOf(m)
	if t == nil {
		return m
	}
	if t.Kind() == reflect.Func && t.NumIn() == 0 && t.NumOut() == 1 {
		t = t.Out(0)
	}
	switch {
	case t.Implements(meterType):
		return metrics.NilMeter{}
	case t.Implements(histogramType):
		return metrics.NilHistogram{}
	case t.Implements(counterType):
		return metrics.NilCounter{}
	}
	if t.Kind() == reflect.Func {
		return reflect.ValueOf(m).Call(nil)[0].Interface()
	}
	return m
}

func (noMetrics) Each(func(string, any))            {}
func (noMetrics) Get(string) any                    { return nil }
func (noMetrics) GetAll() map[string]map[string]any { return nil }
func (noMetrics) Register(string, any) error        { return nil }
func (noMetrics) RunHealthchecks()                  {}
func (noMetrics) Unregister(string)                 {}
func (noMetrics) UnregisterAll()                    {}
