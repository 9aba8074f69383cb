package topology

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/internal/instrument"
	"github.com/sluicehq/sluice/internal/progress"
	"github.com/sluicehq/sluice/metrics"
)

// Metrics sets the registry agents record their metrics in, overriding the
// default: instruments that nothing serves.
func Metrics(r *metrics.Registry) Option {
	return option("Metrics", forRun, func(c *runConfig) { c.metrics = r })
}

// agentMetrics is an agent's instruments, bound to its topics before it runs so
// that counting a record is a lookup in a read-only map and an atomic add.
type agentMetrics struct {
	agent   *instrument.Agent
	in      map[string]prometheus.Counter // by input topic, the loop topic included
	out     map[string]prometheus.Counter // by output topic
	latency prometheus.Observer
}

func newAgentMetrics(a agentSpec, c *runConfig) *agentMetrics {
	reg := instrument.Of(c.metrics)
	if reg == nil {
		reg = instrument.New() // a registry of the agent's own, which nothing serves
	}
	ag := reg.Agent(a.name)
	m := &agentMetrics{
		agent:   ag,
		in:      map[string]prometheus.Counter{},
		out:     map[string]prometheus.Counter{},
		latency: ag.Latency(),
	}
	for _, t := range a.inputs {
		m.in[t.name] = ag.In(t.name)
	}
	if a.timers != nil {
		m.in[a.timers.name] = ag.In(a.timers.name)
	}
	for _, t := range a.outputs {
		m.out[t.name] = ag.Out(t.name)
	}
	return m
}

// counted counts one record handled from topic.
func (m *agentMetrics) counted(topic string) {
	if c := m.in[topic]; c != nil {
		c.Inc()
	}
}

// emitted counts one record written to topic.
func (m *agentMetrics) emitted(topic string) {
	if c := m.out[topic]; c != nil {
		c.Inc()
	}
}

// dirSize returns the bytes of the regular files under dir, 0 if it does not
// exist: the size of an agent's Pebble stores, as cheap to get as a directory
// listing.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a store removed between listing and stat
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// recoveryPoll is how often a stateful agent's table recovery is read into its
// metrics and progress log.
const recoveryPoll = time.Second

// recoverer is what watchRecovery reads; *gokax.Processor implements it.
type recoverer interface {
	Recovery(ctx context.Context) []gokax.Recovery
}

// watchRecovery starts a goroutine that, until the returned stop is called,
// reads p's table recovery every poll into the agent's metrics and, while
// records remain to restore, logs progress (count, rate, ETA) every
// [progress.LogInterval], until every partition has recovered (partitions a
// rebalance adds later are not watched). stop waits for the goroutine to exit.
func watchRecovery(ctx context.Context, rt *agentRuntime, p recoverer, poll time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var bar *progress.Tracker // while a recovery is under way
		defer func() {
			if bar != nil {
				bar.Done()
			}
		}()
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var restored, remaining int64
			rs := p.Recovery(ctx)
			done := len(rs) > 0
			for _, r := range rs {
				rt.metrics.agent.Recovery(r.Partition, r.Restored, r.Remaining)
				restored += r.Restored
				remaining += r.Remaining // 0 for a recovered partition
				done = done && r.Done
			}
			switch {
			case remaining > 0 && bar == nil:
				bar = progress.New(nil, "restoring table", restored+remaining, progress.WithLogger(rt.log))
				bar.Set(restored)
			case remaining > 0:
				bar.SetTotal(restored + remaining)
				bar.Set(restored)
			case bar != nil:
				bar.Set(restored)
				bar.Done()
				bar = nil
			}
			if done {
				// Every partition has recovered. Stop reading: goka's Stats races
				// with the closing of the processor's views when it stops.
				return
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
