package benchmarks

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/proctest"
)

// TestBenchmarksShort runs every end-to-end workload of the benchmarks small
// (a few thousand records) inside `make test`, so that they never rot: each
// must complete, and with figures that make sense. It checks no speed.
func TestBenchmarksShort(t *testing.T) {
	proctest.NonRacePass(t, "the workloads measure a build without the race detector; the runtime they drive runs under it in the other packages' tests")
	b := startBroker(t)
	addrs := b.Addrs()
	e := &env{name: "embedded", addrs: addrs, fake: b}
	for _, impl := range []string{"sluice", "goka"} {
		v := variant{env: e, impl: impl, mode: atLeastOnce}
		t.Run("ProcessorCount/impl="+impl, func(t *testing.T) {
			res := runCount(t, v, "short-count-"+impl, 2000)
			if res.took <= 0 {
				t.Fatalf("counting 2000 records took %v, want > 0", res.took)
			}
		})
		t.Run("Recovery/impl="+impl, func(t *testing.T) {
			res := runRecovery(t, v, "short-recover-"+impl, 3000, 1000)
			if res.replay <= 0 || res.replay > res.restart {
				t.Fatalf("replay %v, restart %v: want 0 < replay <= restart", res.replay, res.restart)
			}
			if res.peakHeap == 0 {
				t.Fatalf("peak heap 0, want > 0")
			}
		})
		t.Run("PipelineLatency/impl="+impl, func(t *testing.T) { shortLatency(t, v) })
		t.Run("Emitter/impl="+impl, func(t *testing.T) {
			if took := runEmitter(t, addrs, impl, "short-emit-"+impl, 2000); took <= 0 {
				t.Fatalf("emitting 2000 records took %v, want > 0", took)
			}
		})
	}
	for _, model := range inferenceModels {
		t.Run("Inference/model="+model, func(t *testing.T) {
			res := runInference(t, addrs, "short-inf-"+model, model, 50, 500, 500, 200*time.Millisecond)
			if res.took <= 0 || res.flagged != 0 || res.samples != 100 || res.p50 <= 0 || res.p50 > res.p99 || res.p99 > res.max {
				t.Fatalf("%+v: want 500 requests scored in > 0 s, none flagged, 100 ordered latency samples", res)
			}
			t.Logf("%.0f requests/s, p50 %v, p99 %v", perSecond(res.requests, res.took), res.p50, res.p99)
		})
	}
	for _, store := range windowStores {
		t.Run("WindowAggregate/store="+store, func(t *testing.T) {
			w := startWindow(t, addrs, store, "short-win-"+store)
			w.process(t, 1000)
			w.process(t, 1000)
			if r, u := w.metrics.Records(), w.metrics.Updates(); r != 2000 || u != 6*r {
				t.Fatalf("%d records aggregated, %d results: want 2000 and 6 per record", r, u)
			}
		})
	}
	for _, impl := range scalingImpls {
		for _, parts := range []int{4, 64} {
			t.Run(fmt.Sprintf("PartitionScaling/partitions=%d/impl=%s", parts, impl), func(t *testing.T) {
				shortScaling(t, addrs, impl, parts)
			})
		}
	}
	t.Run("PipelineLatency/impl="+rawImpl, func(t *testing.T) { shortLatency(t, variant{env: e, impl: rawImpl, mode: atLeastOnce}) })
	t.Run("FeatureLookup", shortLookup)
	t.Run("Ceiling", func(t *testing.T) {
		if took := runCeiling(t, addrs, "short-ceiling", 2000); took <= 0 {
			t.Fatalf("piping 2000 records took %v, want > 0", took)
		}
	})
}

// shortScaling runs the scaling workload of impl on parts partitions for
// 2,000 records. Besides sense, it checks the one figure that does not depend
// on the machine's load: sluice's state on disk after a clean stop stays
// within 1 MiB per partition, which a database per partition broke (each log
// preallocated to 72 MB once written twice; tables.TestDiskPerPartition pins
// that part alone).
func shortScaling(t *testing.T, addrs []string, impl string, parts int) {
	t.Helper()
	res := runScaling(t, addrs, impl, fmt.Sprintf("short-scale-%s-%d", impl, parts), parts, 2000, 500)
	if res.took <= 0 || res.ready <= 0 || res.disk <= 0 || res.fds <= 0 {
		t.Fatalf("%+v: want every figure above 0", res)
	}
	if impl == "sluice" && res.disk > int64(parts)<<20 {
		t.Fatalf("state on disk after a clean stop = %d bytes for %d partitions, want at most 1 MiB per partition", res.disk, parts)
	}
	t.Logf("%.0f msgs/s, ready in %v, peak RSS %d MB, %d KB on disk, %d fds", perSecond(res.records, res.took), res.ready, res.peakRSS>>20, res.disk>>10, res.fds)
}

// TestBenchmarksShortKafka runs the end-to-end workloads small on Apache
// Kafka, every variant of the benchmarks' broker=kafka rows (Kafka Streams
// in both modes among them), so that none of them rots; it checks no speed.
func TestBenchmarksShortKafka(t *testing.T) {
	proctest.NonRacePass(t, "the workloads measure a build without the race detector; the runtime they drive runs under it in the other packages' tests")
	c := kafkareal.Shared(t, kafkareal.Config{Nodes: 1})
	e := &env{name: "kafka", addrs: c.Addrs(), kafka: c}
	for _, v := range variants([]*env{e}, "sluice", "goka", rawImpl, kstreamsImpl) {
		name := v.impl + "-" + v.mode
		if v.impl != rawImpl {
			t.Run("ProcessorCount/"+name, func(t *testing.T) {
				res := runCount(t, v, "short-count-"+name, 2000)
				if res.took <= 0 {
					t.Fatalf("counting 2000 records took %v, want > 0", res.took)
				}
				if res.brokerCPU <= 0 {
					t.Fatalf("the broker's JVM used %v CPU over the run, want > 0 (broker_cpu_us/msg)", res.brokerCPU)
				}
			})
			t.Run("Recovery/"+name, func(t *testing.T) {
				res := runRecovery(t, v, "short-recover-"+name, 3000, 1000)
				if res.replay <= 0 || res.replay > res.restart || res.peakRSS == 0 {
					t.Fatalf("replay %v, restart %v, peak RSS %d: want 0 < replay <= restart, RSS > 0", res.replay, res.restart, res.peakRSS)
				}
			})
		}
		t.Run("PipelineLatency/"+name, func(t *testing.T) { shortLatency(t, v) })
	}
}

// shortLatency runs the latency pipeline of v for 200 records.
func shortLatency(t *testing.T, v variant) {
	t.Helper()
	res := runLatency(t, v, "short-lat-"+v.impl+"-"+v.mode, 2000, 100*time.Millisecond)
	if res.samples != 200 || res.p50 <= 0 || res.p50 > res.p99 || res.p99 > res.max {
		t.Fatalf("%d samples, p50 %v, p99 %v, max %v: want 200 ordered samples", res.samples, res.p50, res.p99, res.max)
	}
	t.Logf("p50 %v, p99 %v, max %v", res.p50, res.p99, res.max)
}

// TestTimersBenchmarkShort runs BenchmarkTimers's workload small in both
// modes, so that it never rots; it checks no speed, only that every timer
// fired and the figures are ordered.
func TestTimersBenchmarkShort(t *testing.T) {
	proctest.NonRacePass(t, "the workloads measure a build without the race detector; the runtime they drive runs under it in the other packages' tests")
	addrs := startBroker(t).Addrs()
	for _, mode := range Modes {
		t.Run("mode="+mode, func(t *testing.T) {
			r := runTimers(t, addrs, mode, "short-timers-"+mode, 500, 50)
			if r.schedule <= 0 || r.burst <= 0 || r.steady != 100 || r.hopSample != 100 ||
				r.lateP50 < 0 || r.lateP50 > r.lateP99 || r.hopP50 > r.hopP99 {
				t.Fatalf("%+v: want 500 timers set and fired, 100 steady firings and probes, ordered quantiles", r)
			}
			t.Logf("%.0f scheduled/s, %.0f fired/s, lateness p50 %v p99 %v, hop p50 %v p99 %v",
				perSecond(r.timers, r.schedule), perSecond(r.timers, r.burst), r.lateP50, r.lateP99, r.hopP50, r.hopP99)
		})
	}
}
