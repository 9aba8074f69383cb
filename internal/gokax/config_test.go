package gokax

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/rcrowley/go-metrics"
)

// TestConfigReplacesGokaDefaults pins each default sluice changes, against goka's.
// Each row names the measurement behind it in config.go.
func TestConfigReplacesGokaDefaults(t *testing.T) {
	c, g := Config(), goka.DefaultConfig()
	for _, tc := range []struct {
		name      string
		got, goka any
		want      any
	}{
		{"Consumer.Offsets.Initial", c.Consumer.Offsets.Initial, g.Consumer.Offsets.Initial, sarama.OffsetOldest},
		{"Producer.RequiredAcks", c.Producer.RequiredAcks, g.Producer.RequiredAcks, sarama.WaitForAll},
		{"Net.MaxOpenRequests", c.Net.MaxOpenRequests, g.Net.MaxOpenRequests, 1},
		{"Producer.Flush.Frequency", c.Producer.Flush.Frequency, g.Producer.Flush.Frequency, time.Duration(0)},
		{"Producer.Flush.Bytes", c.Producer.Flush.Bytes, g.Producer.Flush.Bytes, 0},
		{"Consumer.MaxWaitTime", c.Consumer.MaxWaitTime, g.Consumer.MaxWaitTime, 10 * time.Millisecond},
		{"Consumer.Group.Heartbeat.Interval", c.Consumer.Group.Heartbeat.Interval, g.Consumer.Group.Heartbeat.Interval, time.Second},
		{"Consumer.Group.Rebalance.Timeout", c.Consumer.Group.Rebalance.Timeout, g.Consumer.Group.Rebalance.Timeout, 20 * time.Second},
		{"ChannelBufferSize", c.ChannelBufferSize, g.ChannelBufferSize, 1024},
		{"Consumer.Fetch.Default", c.Consumer.Fetch.Default, g.Consumer.Fetch.Default, int32(64 << 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v (goka: %v)", tc.got, tc.want, tc.goka)
			}
			if tc.got == tc.goka {
				t.Errorf("equals goka's default %v: the row documents a change that is not one", tc.goka)
			}
		})
	}
	// Off on purpose (config.go says why): sarama v1.46.3's idempotent producer
	// can acknowledge a record it never wrote.
	if c.Producer.Idempotent {
		t.Error("Producer.Idempotent is on: sarama v1.46.3 can acknowledge unwritten records with it")
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("sarama rejects the config: %v", err)
	}
	// The session must outlast goka's hard-coded 5 s sleep before it rejoins,
	// and a starved process's late heartbeats (config.go): sarama's 10 s.
	if c.Consumer.Group.Session.Timeout < 10*time.Second {
		t.Errorf("session timeout %v is not above goka's 5 s rejoin sleep", c.Consumer.Group.Session.Timeout)
	}
	// sarama waits for a JoinGroup answer at most the read timeout, and the
	// coordinator may hold it for the rebalance timeout: a group whose rebalance
	// outlasts the read timeout never settles while a member is missing.
	if rt := c.Consumer.Group.Rebalance.Timeout; rt >= c.Net.ReadTimeout || rt <= 5*time.Second {
		t.Errorf("rebalance timeout %v is not between goka's 5 s rejoin sleep and the read timeout %v", rt, c.Net.ReadTimeout)
	}
	// Callers get their own copy.
	Config().Producer.RequiredAcks = sarama.NoResponse
	if Config().Producer.RequiredAcks != sarama.WaitForAll {
		t.Error("Config returns a shared value")
	}
}

// TestNoMetrics pins that sarama gets a registry that keeps nothing: the
// constructors sarama passes yield go-metrics' no-op metrics without being
// called, and nothing is registered.
func TestNoMetrics(t *testing.T) {
	r := Config().MetricRegistry
	called := false
	for _, tc := range []struct {
		name string
		m    any
		want any
	}{
		{"meter constructor", func() metrics.Meter { called = true; return metrics.NewMeter() }, metrics.NilMeter{}},
		{"histogram constructor", func() metrics.Histogram {
			called = true
			return metrics.NewHistogram(metrics.NewUniformSample(1))
		}, metrics.NilHistogram{}},
		{"counter constructor", func() metrics.Counter { called = true; return metrics.NewCounter() }, metrics.NilCounter{}},
		{"meter value", metrics.NewMeter(), metrics.NilMeter{}},
		{"constructor of a concrete meter", func() *metrics.StandardMeter { called = true; return nil }, metrics.NilMeter{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.GetOrRegister("m", tc.m); got != tc.want {
				t.Errorf("GetOrRegister = %T, want %T", got, tc.want)
			}
		})
	}
	if called {
		t.Error("a constructor was called")
	}
	// sarama's own helpers, as its brokers and producers call them.
	metrics.GetOrRegisterMeter("request-rate", r).Mark(1)
	metrics.GetOrRegisterCounter("requests-in-flight", r).Inc(1)
	if got := r.Get("request-rate"); got != nil {
		t.Errorf("Get after GetOrRegister = %v, want nil", got)
	}
	n := 0
	r.Each(func(string, any) { n++ })
	if n != 0 {
		t.Errorf("Each visited %d metrics, want 0", n)
	}
}
