package benchmarks

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/topology"
)

// scalingPartitions are the partition counts of BenchmarkPartitionScaling.
var scalingPartitions = []int{4, 64, 256, 1024}

// scalingImpls are the table storages BenchmarkPartitionScaling compares,
// both under sluice's runtime so that the figures differ by storage alone:
// sluice's default (Pebble, one database per agent) and goka's default
// (LevelDB, storage.DefaultBuilder: a database per partition).
var scalingImpls = []string{"sluice", "goka"}

// scalingRecords and scalingKeys size the scaling workload: records over
// keys, each a 100-byte value, pre-produced. Issue 16 measured 20,000
// records; their processing took 100-200 ms here, too short a window to rank
// two storages on a machine shared with other work.
const (
	scalingRecords = 100_000
	scalingKeys    = 5_000
)

// scalingResult is one run of the scaling workload.
type scalingResult struct {
	records int
	ready   time.Duration // from the start of Run until the first record was processed
	took    time.Duration // from the first record processed until every state write was acknowledged
	peakRSS uint64        // of the whole process, broker included
	disk    int64         // bytes allocated under the state directory after a clean stop
	fds     int           // open file descriptors of the process once every record was processed
	cpu     time.Duration // CPU time of the process from the start of Run until every state write was acknowledged
}

// runScaling pre-produces records records over keyCount keys to a fresh
// topic of parts partitions, runs one counting agent on it with impl's table
// storage until every record was counted and its changelog write
// acknowledged, stops it, and measures the state directory it left.
func runScaling(tb testing.TB, addrs []string, impl, name string, parts, records, keyCount int) scalingResult {
	tb.Helper()
	in, group := name+"-in", name
	p := newProgress(records)
	g := countingGraph(name, in, group, p, parts)
	dir := tb.TempDir()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	switch impl {
	case "sluice":
	case "goka":
		opts = append(opts, topology.Storage(storage.DefaultBuilder))
	default:
		tb.Fatalf("unknown impl %q", impl)
	}
	if _, err := topology.Provision(context.Background(), g, opts...); err != nil {
		tb.Fatalf("provision: %v", err)
	}
	ks := keys("key", keyCount)
	produce(tb, addrs, in, records, func(i int) ([]byte, []byte) { return ks[i%len(ks)], value(i) })

	forceGC()
	mem := StartMemorySampler(10 * time.Millisecond)
	cpu0 := cpuTime(tb)
	t0 := time.Now()
	r := start(tb, func(ctx context.Context) error { return topology.Run(ctx, g, opts...) })
	p.wait(tb, r, 10*time.Minute)
	waitEndOffsets(tb, addrs, group+"-table", int64(records), 5*time.Minute)
	first := time.Unix(0, p.first.Load())
	res := scalingResult{records: records, ready: first.Sub(t0), took: time.Since(first), fds: openFDs(), cpu: cpuTime(tb) - cpu0}
	r.stop(tb)
	_, res.peakRSS = mem.Stop()
	res.disk = diskUsage(tb, filepath.Join(dir, "state"))
	deleteTopics(tb, addrs, in, group+"-table")
	return res
}

// BenchmarkPartitionScaling measures what a partition costs: one counting
// agent (the agent of BenchmarkProcessorCount) over 100,000 pre-produced
// records on 5,000 keys, on 4 to 1024 partitions. impl=sluice keeps its
// tables in sluice's default storage, impl=goka in goka's LevelDB storage,
// both under sluice's runtime. Units: msgs/s from the first record processed
// until the last changelog write was acknowledged; ready_ms from the start
// of Run until the first record was processed (group join, opening and
// recovering every partition's store: goka processes no record before all
// of its partitions recovered); msgs/s_from_start the records over both;
// rss_mb the process's peak resident
// set, embedded broker included; disk_mb what the state directory holds on
// disk after a clean stop, and disk_kb/partition the same per partition;
// fds the open file descriptors while running; cpu_us/msg the process's CPU
// time from the start of Run until the last changelog write was
// acknowledged, per record: what the records and the partitions cost,
// steadier than msgs/s on a machine shared with other work.
func BenchmarkPartitionScaling(b *testing.B) {
	addrs := startBroker(b).Addrs()
	for _, parts := range scalingPartitions {
		for _, impl := range scalingImpls {
			b.Run(fmt.Sprintf("partitions=%d/impl=%s", parts, impl), func(b *testing.B) {
				var sum scalingResult
				var runs int
				for b.Loop() {
					res := runScaling(b, addrs, impl, fmt.Sprintf("scale-%s-%d-%d", impl, parts, runs), parts, scalingRecords, scalingKeys)
					sum.records += res.records
					sum.took += res.took
					sum.ready += res.ready
					sum.peakRSS = max(sum.peakRSS, res.peakRSS)
					sum.disk += res.disk
					sum.fds = max(sum.fds, res.fds)
					sum.cpu += res.cpu
					runs++
				}
				b.ReportMetric(perSecond(sum.records, sum.took), "msgs/s")
				b.ReportMetric(perSecond(sum.records, sum.ready+sum.took), "msgs/s_from_start")
				b.ReportMetric(ms(sum.ready)/float64(runs), "ready_ms")
				b.ReportMetric(float64(sum.peakRSS)/(1<<20), "rss_mb")
				b.ReportMetric(float64(sum.disk)/float64(runs)/(1<<20), "disk_mb")
				b.ReportMetric(float64(sum.disk)/float64(runs)/float64(parts)/(1<<10), "disk_kb/partition")
				b.ReportMetric(float64(sum.fds), "fds")
				b.ReportMetric(float64(sum.cpu.Microseconds())/float64(sum.records), "cpu_us/msg")
			})
		}
	}
}

// diskUsage returns the bytes allocated to the files under dir, as du
// counts them: preallocated space included.
func diskUsage(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("disk usage of %s: %v", dir, err)
	}
	return n
}

// openFDs returns the number of open file descriptors of the process, or
// -1 where /proc is unavailable.
func openFDs() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}
