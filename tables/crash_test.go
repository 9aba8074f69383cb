package tables_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

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
	// markRecords is how many records the helper writes in mode "mark";
	// fewer than a 32 KiB block of log.
	markRecords = 1000
)

// TestHelperProcess is the child of TestCrash, not a test. It resumes after
// the stored offset and writes record i (Set of key(i), then SetOffset(i)) as
// goka does, printing i now and then, until it is killed. In mode "recovery"
// the writes are recovery writes; in mode "normal" it calls MarkRecovered
// first; in mode "mark" it writes markRecords records, calls MarkRecovered, prints
// "recovered" and waits to be killed.
func TestHelperProcess(t *testing.T) {
	dir, mode := os.Getenv(helperDirEnv), os.Getenv(helperModeEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash")
	}
	st, err := tables.Open(dir, tables.RecoveryBatchSize(crashBatch))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	check := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	start, err := st.GetOffset(0)
	check(err)
	if mode == "normal" {
		check(st.MarkRecovered())
	}
	for i := start + 1; ; i++ {
		check(st.Set(key(i), value(i)))
		check(st.SetOffset(i))
		if mode == "mark" && i == start+markRecords {
			check(st.MarkRecovered())
			fmt.Println("recovered")
			time.Sleep(time.Hour) // not select{}: the runtime would call it a deadlock
		}
		if i%100 == 0 {
			fmt.Println(i)
		}
	}
}

// TestCrash kills a process writing through a store at an arbitrary point and
// checks that the stored offset never runs ahead of the data: every record up
// to it is there. Each mode runs three rounds, each resuming where the last
// crash left the store, as goka would.
func TestCrash(t *testing.T) {
	for _, mode := range []string{"recovery", "normal", "mark"} {
		t.Run("mode="+mode, func(t *testing.T) {
			dir := t.TempDir()
			var last int64
			for round := range 3 {
				// Kill after 2000 to 3000 new records: past many commits,
				// and past the 32 KiB block of log that Pebble buffers
				// before it writes to the file unless asked to sync.
				n := last + 2000 + int64(round)*500
				runAndKill(t, dir, mode, n)
				offset := checkStore(t, dir, last)
				if mode == "mark" && offset != last+markRecords {
					// Nothing after MarkRecovered: all of it must be there.
					t.Fatalf("round %d: offset after MarkRecovered and kill = %d, want %d", round, offset, last+markRecords)
				}
				last = offset
			}
		})
	}
}

// runAndKill starts the helper on dir and SIGKILLs it once it printed
// progress n or, in mode "mark", "recovered".
func runAndKill(t *testing.T, dir, mode string, n int64) {
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
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		i, err := strconv.ParseInt(lines.Text(), 10, 64)
		if (mode == "mark" && lines.Text() == "recovered") || (mode != "mark" && err == nil && i >= n) {
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
}

// checkStore opens the store in dir and checks that its offset is past last
// and every record up to it is present; it returns the offset.
func checkStore(t *testing.T, dir string, last int64) int64 {
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
	offset, err := st.GetOffset(-1)
	if err != nil || offset <= last {
		t.Fatalf("GetOffset(-1) after kill = %d, %v; want more than %d, nil", offset, err, last)
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
