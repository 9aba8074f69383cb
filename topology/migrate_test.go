package topology_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/tables"
	"github.com/sluicehq/sluice/topology"
)

// perPartitionLayout is the default storage of sluice before one database per
// agent: a Pebble database per table partition in DIR/TOPIC.PARTITION, its
// keys unprefixed. tables.Open writes that format.
func perPartitionLayout(dir string) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		s, err := tables.Open(filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition)))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// lockedBuffer is a bytes.Buffer for a logger written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMigratePerPartitionLayout runs the counter with the per-partition layout
// of earlier versions, then with the default storage on the same data dir:
// the restarted agent reads the old stores (one log line says so, naming the
// partitions and keys read), counts on from them, and leaves the one
// database, with no partition directory.
func TestMigratePerPartitionLayout(t *testing.T) {
	const keys, perKey = 50, 4
	addrs := kafkatest.Start(t).Addrs()
	dir := t.TempDir()
	g := counterGraph()
	common := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir), topology.RestartBackoff(50*time.Millisecond, time.Second)}
	if _, err := topology.Provision(t.Context(), g, common...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	produceKeys(t, addrs, clicks.Name, keys, perKey)
	stop := running(t, g, append(common, topology.Storage(perPartitionLayout))...)
	latest(t, addrs, counts.Name, keys, perKey)
	waitCommitted(t, addrs, "counter", clicks.Name, time.Minute)
	stop()
	stateDir := filepath.Join(dir, "state", "counter")
	old, err := filepath.Glob(filepath.Join(stateDir, topology.TableName("counter")+".*"))
	if err != nil || len(old) != topology.DefaultPartitions {
		t.Fatalf("per-partition layout wrote %q (%v), want %d partition directories", old, err, topology.DefaultPartitions)
	}

	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the migrated run logged:\n%s", logs.String())
		}
	})
	stop = running(t, g, append(common, topology.WithLogger(logger))...)
	produceKeys(t, addrs, clicks.Name, keys, 1)
	latest(t, addrs, counts.Name, keys, perKey+1)
	stop()

	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "per-partition layout") {
			lines = append(lines, l)
		}
	}
	want := fmt.Sprintf("partitions=%d keys=%d", topology.DefaultPartitions, keys)
	if len(lines) != 1 || !strings.Contains(lines[0], "read the stores") || !strings.Contains(lines[0], want) {
		t.Fatalf("log lines about the old layout = %q, want one that says the stores were read, with %s", lines, want)
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("state dir still holds %s after the migration", e.Name())
		}
	}
	table := readTables(t, stateDir, topology.TableName("counter"), topology.DefaultPartitions)
	if len(table) != keys {
		t.Fatalf("migrated table has %d keys, want %d", len(table), keys)
	}
	for k, v := range table {
		if v != strconv.Itoa(perKey+1) {
			t.Errorf("migrated table[%s] = %s after one more record, want %d", k, v, perKey+1)
		}
	}
}
