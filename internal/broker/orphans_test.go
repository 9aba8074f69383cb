package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

const childDirEnv = "SLUICE_BROKER_CHILD_DIR"

// TestHelperBroker is the child of TestCrashAbortsOpenTransactions, not a
// test: it serves a broker on the dir it is given, prints its address and
// waits to be killed.
func TestHelperBroker(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrashAbortsOpenTransactions")
	}
	b, err := broker.Start(broker.DataDir(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("addr", b.Addrs()[0])
	time.Sleep(time.Hour) // not select{}: the runtime would call it a deadlock
}

// TestCrashAbortsOpenTransactions kills a broker process while a
// transaction is open and restarts the broker on its data dir in this
// process. kfake alone counts the transaction as aborted but writes no
// marker; then a read-committed consumer never receives the partition's last
// offset (goka's table recovery waits for it forever) and skips the
// committed records the same transactional producer writes afterwards. Both
// must work: the restarted broker ends the transaction with an abort marker.
func TestCrashAbortsOpenTransactions(t *testing.T) {
	dir := t.TempDir()
	addr := startChild(t, dir, func(addr string) {
		kafkatest.CreateTopic(t, []string{addr}, "t", 1, nil)
		tx := txnClient(t, addr)
		produceTxn(t, tx, "committed-1", "committed-2")
		if err := tx.BeginTransaction(); err != nil {
			t.Fatalf("BeginTransaction: %v", err)
		}
		for _, v := range []string{"open-1", "open-2"} {
			if err := tx.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		// The process dies with the transaction open.
	})
	b := start(t, broker.DataDir(dir), broker.Listen(addr))
	addrs := b.Addrs()

	values, last, hwm := readCommitted(t, addrs)
	if want := []string{"committed-1", "committed-2"}; !slices.Equal(values, want) {
		t.Errorf("after the restart, read-committed values = %q, want %q", values, want)
	}
	if last != hwm-1 {
		t.Errorf("last offset delivered to a read-committed consumer = %d, want the high watermark - 1 = %d", last, hwm-1)
	}

	tx := txnClient(t, addrs[0])
	produceTxn(t, tx, "after")
	values, last, hwm = readCommitted(t, addrs)
	if want := []string{"committed-1", "committed-2", "after"}; !slices.Equal(values, want) {
		t.Errorf("after a new transaction, read-committed values = %q, want %q", values, want)
	}
	if last != hwm-1 {
		t.Errorf("last offset delivered = %d, want %d", last, hwm-1)
	}
	tx.Close()
	closeBroker(t, b)
}

// startChild runs TestHelperBroker on dir, calls f with its address, kills it
// with SIGKILL and returns the address.
func startChild(t *testing.T, dir string, f func(addr string)) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBroker$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the broker process: %v", err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var addr string
	for lines := bufio.NewScanner(out); lines.Scan(); {
		if a, ok := strings.CutPrefix(lines.Text(), "addr "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the broker process printed no address")
	}
	f(addr)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing the broker process: %v", err)
	}
	_ = cmd.Wait()
	return addr
}

func txnClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn writes values in one committed transaction.
func produceTxn(t *testing.T, cl *kgo.Client, values ...string) {
	t.Helper()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// readCommitted reads topic t read-committed, markers included, until the
// partition is quiet; it returns the data values, the last offset delivered
// (marker or not) and the high watermark.
func readCommitted(t *testing.T, addrs []string) (values []string, last, hwm int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	last = -1
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			break
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) { hwm = max(hwm, p.HighWatermark) })
		fs.EachRecord(func(r *kgo.Record) {
			last = r.Offset
			if !r.Attrs.IsControl() {
				values = append(values, string(r.Value))
			}
		})
	}
	return values, last, hwm
}

// TestCleanCloseKeepsOpenTransactions pins that only a broker that died gets
// its open transactions aborted: after Close and a restart, a transaction
// open across them still commits.
func TestCleanCloseKeepsOpenTransactions(t *testing.T) {
	dir := t.TempDir()
	b := start(t, broker.DataDir(dir))
	addrs := b.Addrs()
	kafkatest.CreateTopic(t, addrs, "t", 1, nil)
	tx := txnClient(t, addrs[0])
	if err := tx.BeginTransaction(); err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
	ctx := context.Background()
	if err := tx.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("across")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	closeBroker(t, b)
	b = start(t, broker.DataDir(dir), broker.Listen(addrs[0]))
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
	if values, _, _ := readCommitted(t, addrs); !slices.Equal(values, []string{"across"}) {
		t.Errorf("read-committed values = %q, want [across]", values)
	}
	closeBroker(t, b)
}
