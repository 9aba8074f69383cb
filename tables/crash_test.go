package tables_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/sluicehq/sluice/tables"
)

// The crash helper runs in a child process when these are set: the store's
// directory and what the child does (one of the modes of TestCrash).
const (
	helperDirEnv  = "SLUICE_TABLES_HELPER_DIR"
	helperModeEnv = "SLUICE_TABLES_HELPER_MODE"
)

const (
	// crashBatch is the recovery batch of the helper: small, so that a kill
	// lands amid many commits.
	crashBatch = 64
	// checkpointAfter is how many records the helper writes before it
	// closes and reopens the store, which makes them durable.
	checkpointAfter = 500
	// killAfter is how many records past the checkpoint the parent waits
	// for before it kills the helper: past the 32 KiB block of log that
	// Pebble buffers in memory unless asked to sync, so that the kill
	// lands amid writes that may or may not have reached the file.
	killAfter = 2000
)

// TestHelperProcess is the child of TestCrash, not a test. It resumes after
// the stored offset and writes record i (Set of key(i), then SetOffset(i)) as
// goka does, printing i every 100 records, until it is killed. After
// checkpointAfter records it closes and reopens the store and prints
// "checkpoint i". In mode "recovery" the writes are recovery writes; in mode
// "normal" it calls MarkRecovered on every open; in mode "mark" it calls
// MarkRecovered at the checkpoint instead of closing, and waits to be killed;
// mode "shared" writes two partitions of one database (see sharedHelper).
func TestHelperProcess(t *testing.T) {
	dir, mode := os.Getenv(helperDirEnv), os.Getenv(helperModeEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash")
	}
	check := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if mode == "shared" {
		sharedHelper(dir, check)
	}
	open := func() *tables.Store {
		st, err := tables.Open(dir, tables.RecoveryBatchSize(crashBatch))
		check(err)
		if mode == "normal" {
			check(st.MarkRecovered())
		}
		return st
	}
	st := open()
	start, err := st.GetOffset(0)
	check(err)
	for i := start + 1; ; i++ {
		check(st.Set(key(i), value(i)))
		check(st.SetOffset(i))
		if i == start+checkpointAfter {
			if mode == "mark" {
				check(st.MarkRecovered())
				fmt.Println("checkpoint", i)
				time.Sleep(time.Hour) // not select{}: the runtime would call it a deadlock
			}
			check(st.Close())
			st = open()
			fmt.Println("checkpoint", i)
		}
		if i%100 == 0 {
			fmt.Println(i)
		}
	}
}

// TestCrash SIGKILLs a process writing through a store amid its writes and
// checks that the stored offset never runs ahead of the data: every record up
// to it is there. The offset is at least the helper's checkpoint, so each
// round checks more records. Each mode runs three rounds, each resuming
// where the last kill left the store, as goka would.
func TestCrash(t *testing.T) {
	for _, mode := range []string{"recovery", "normal", "mark", "shared"} {
		t.Run("mode="+mode, func(t *testing.T) {
			dir := t.TempDir()
			var offset int64
			for round := range 3 {
				checkpoint := runAndKill(t, dir, mode)
				if mode == "shared" {
					offset = checkShared(t, dir)
				} else {
					offset = checkStore(t, dir)
				}
				if offset < checkpoint {
					t.Fatalf("round %d: offset after kill = %d, want at least the checkpoint %d", round, offset, checkpoint)
				}
				if mode == "mark" && offset != checkpoint {
					t.Fatalf("round %d: offset after MarkRecovered and kill = %d, want %d", round, offset, checkpoint)
				}
			}
		})
	}
}

// runAndKill starts the helper on dir, SIGKILLs it once it wrote killAfter
// records past its checkpoint (in mode "mark", at the checkpoint), and
// returns the checkpoint.
func runAndKill(t *testing.T, dir, mode string) (checkpoint int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperModeEnv+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe() = %v, want nil", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting helper: %v", err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	for lines := bufio.NewScanner(out); lines.Scan(); {
		if n, ok := strings.CutPrefix(lines.Text(), "checkpoint "); ok {
			checkpoint, _ = strconv.ParseInt(n, 10, 64)
			if mode == "mark" {
				break
			}
		} else if i, _ := strconv.ParseInt(lines.Text(), 10, 64); checkpoint > 0 && i >= checkpoint+killAfter {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing helper: %v", err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v before it was killed, want it killed", err)
	}
	if checkpoint == 0 {
		t.Fatalf("helper was killed before its checkpoint")
	}
	return checkpoint
}

// sharedPartitions are the partitions of table "t" that the helper writes in
// mode "shared", through a Builder: one database, one write-ahead log, and
// the commits of both partitions interleaved in it. Partition 0 is
// recovered (direct writes), partition 1 in recovery (batched writes).
var sharedPartitions = []int32{0, 1}

// sharedHelper is TestHelperProcess in mode "shared": each round writes the
// next record of every partition, each after its own stored offset; after
// checkpointAfter rounds it closes the partitions (the database closes with
// the last) and opens them again, and prints "checkpoint N", N the least
// offset stored.
func sharedHelper(dir string, check func(error)) {
	build := tables.Builder(dir, tables.RecoveryBatchSize(crashBatch))
	type part struct {
		st   storage.Storage
		next int64
	}
	open := func() []*part {
		var parts []*part
		for _, p := range sharedPartitions {
			st, err := build("t", p)
			check(err)
			if p == 0 {
				check(st.MarkRecovered())
			}
			off, err := st.GetOffset(0)
			check(err)
			parts = append(parts, &part{st: st, next: off + 1})
		}
		return parts
	}
	parts := open()
	for round := 1; ; round++ {
		for _, p := range parts {
			check(p.st.Set(key(p.next), value(p.next)))
			check(p.st.SetOffset(p.next))
			p.next++
		}
		if round == checkpointAfter {
			least := parts[0].next - 1
			for _, p := range parts {
				least = min(least, p.next-1)
				check(p.st.Close())
			}
			parts = open()
			fmt.Println("checkpoint", least)
		}
		if n := parts[0].next - 1; n%100 == 0 {
			fmt.Println(n)
		}
	}
}

// checkShared checks every partition of mode "shared" in dir's database as
// checkStore checks a store, and returns the least offset.
func checkShared(t *testing.T, dir string) int64 {
	t.Helper()
	build := tables.Builder(dir)
	least := int64(-1)
	for _, p := range sharedPartitions {
		st, err := build("t", p)
		if err != nil {
			t.Fatalf("build partition %d after kill = %v, want nil", p, err)
		}
		offset := checkRecords(t, st)
		if err := st.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
		if least < 0 || offset < least {
			least = offset
		}
	}
	return least
}

// checkStore opens the store in dir, checks that every record up to its
// offset is present, and returns the offset.
func checkStore(t *testing.T, dir string) int64 {
	t.Helper()
	st, err := tables.Open(dir)
	if err != nil {
		t.Fatalf("Open() after kill = %v, want nil", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	}()
	return checkRecords(t, st)
}

// checkRecords checks that every record up to st's offset is present, and
// returns the offset.
func checkRecords(t *testing.T, st storage.Storage) int64 {
	t.Helper()
	offset, err := st.GetOffset(-1)
	if err != nil || offset <= 0 {
		t.Fatalf("GetOffset(-1) after kill = %d, %v; want more than 0, nil", offset, err)
	}
	// One iterator, not a Get per record: keys sort by record number, and
	// Gets are slow under the race detector, which turns on Pebble's
	// invariant checks.
	it, err := st.IteratorWithRange([]byte("key-"), nil)
	if err != nil {
		t.Fatalf("IteratorWithRange() = %v, want nil", err)
	}
	defer it.Release()
	for i := int64(1); i <= offset; i++ {
		if !it.Next() {
			t.Fatalf("offset %d: record %d missing (%v)", offset, i, it.Err())
		}
		v, err := it.Value()
		if string(it.Key()) != key(i) || string(v) != string(value(i)) || err != nil {
			t.Fatalf("offset %d: record %d is %s=%q, %v; want %s=%q, nil", offset, i, it.Key(), v, err, key(i), value(i))
		}
	}
	return offset
}
