package topology_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestStorageLevelDB runs the counter with goka's LevelDB store instead of
// Pebble: counts are exact, the files under the agent's state directory are
// LevelDB's (goka's own builder reads them back), and a view of the table
// gets its own directory from the same option.
func TestStorageLevelDB(t *testing.T) {
	const keys, perKey = 100, 5
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	dir := t.TempDir()
	var mu sync.Mutex
	var dirs []string
	leveldb := topology.Storage(func(d string) storage.Builder {
		mu.Lock()
		defer mu.Unlock()
		dirs = append(dirs, d)
		return storage.DefaultBuilder(d)
	})
	g := counterGraph()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir), leveldb}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	produceKeys(t, addrs, clicks.Name, keys, perKey)
	stop := running(t, g, opts...)
	latest(t, addrs, counts.Name, keys, perKey)

	view, err := topology.NewView(topology.Table[int64]{Name: topology.TableName("counter"), Codec: topology.Int64()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- view.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := view.WaitRecovered(wctx); err != nil {
		t.Fatalf("view: %v", err)
	}
	if n, ok, err := view.Get("user-7"); err != nil || !ok || n != perKey {
		t.Errorf("view.Get(user-7) = %d, %t, %v, want %d", n, ok, err, perKey)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("View.Run = %v", err)
	}
	stop()

	stateDir := filepath.Join(dir, "state", "counter")
	mu.Lock()
	want := []string{stateDir, filepath.Join(dir, "views", topology.TableName("counter"))}
	if !slices.Equal(dirs, want) {
		t.Errorf("Storage builder called for %v, want %v", dirs, want)
	}
	mu.Unlock()

	got := map[string]string{}
	open := storage.DefaultBuilder(stateDir)
	for p := range topology.DefaultPartitions {
		if _, err := os.Stat(filepath.Join(stateDir, fmt.Sprintf("%s.%d", topology.TableName("counter"), p), "CURRENT")); err != nil {
			t.Errorf("partition %d: no LevelDB CURRENT file: %v", p, err)
		}
		s, err := open(topology.TableName("counter"), int32(p))
		if err != nil {
			t.Fatalf("partition %d: goka's LevelDB cannot open it: %v", p, err)
		}
		it, err := s.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			v, err := it.Value()
			if err != nil {
				t.Fatal(err)
			}
			got[string(it.Key())] = string(v)
		}
		it.Release()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitLevelDBClosed(t)
	if len(got) != keys {
		t.Fatalf("LevelDB tables hold %d keys, want %d", len(got), keys)
	}
	for k, v := range got {
		if v != strconv.Itoa(perKey) {
			t.Fatalf("table[%s] = %q, want %d", k, v, perKey)
		}
	}
}

// waitLevelDBClosed waits until the goroutines of closed LevelDB databases
// have exited: each drains its memory pool for up to a second after Close,
// longer than the package's leak check waits.
func waitLevelDBClosed(t *testing.T) {
	t.Helper()
	waitUntil(t, 30*time.Second, "LevelDB's goroutines to exit after Close", func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "leveldb.(*DB).mpoolDrain")
	})
}

// TestStateMemoryTooSmall pins that Run refuses a state memory budget under
// 4 MiB with an error that names the option, before it starts anything.
func TestStateMemoryTooSmall(t *testing.T) {
	err := topology.Run(t.Context(), counterGraph(), topology.StateMemory(1<<20), topology.DataDir(t.TempDir()), topology.EmbeddedListen("127.0.0.1:0"))
	if err == nil || !strings.Contains(err.Error(), "StateMemory(1048576)") {
		t.Fatalf("Run with StateMemory(1 MiB) = %v, want an error naming StateMemory", err)
	}
}
