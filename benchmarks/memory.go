package benchmarks

import (
	"bufio"
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// heapMetric is the memory occupied by heap objects, live or not yet swept:
// what the heap holds between collections.
const heapMetric = "/memory/classes/heap/objects:bytes"

// MemorySampler records the peak heap and resident set size of the process
// over an interval. Both cover the whole process: in the benchmarks that is
// the workload and the embedded broker it runs on.
type MemorySampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak uint64 // heap bytes
}

// StartMemorySampler resets the process's peak RSS (VmHWM, by writing 5 to
// /proc/self/clear_refs) and samples the heap every interval until Stop.
func StartMemorySampler(every time.Duration) *MemorySampler {
	// Ignored where unsupported: Stop then reports the peak since start.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	m := &MemorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	m.sample()
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *MemorySampler) sample() {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	m.mu.Lock()
	m.peak = max(m.peak, s[0].Value.Uint64())
	m.mu.Unlock()
}

// Stop ends sampling and returns the peak heap and the peak RSS in bytes
// since the sampler started; peakRSS is 0 where /proc is unavailable.
func (m *MemorySampler) Stop() (peakHeap, peakRSS uint64) {
	close(m.stop)
	<-m.done
	m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak, readVmHWM()
}

// HeapBytes returns the bytes in heap objects now.
func HeapBytes() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// readVmHWM returns the peak resident set size of the process in bytes.
func readVmHWM() uint64 { return vmHWM("/proc/self/status") }

// vmHWM returns the peak resident set size in bytes that a /proc status file
// gives, 0 if it gives none.
func vmHWM(status string) uint64 {
	f, err := os.Open(status)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
