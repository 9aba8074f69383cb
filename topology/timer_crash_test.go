package topology_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// The child process of TestTimersSIGKILL runs when these are set.
const (
	tmHelperBrokersEnv = "SLUICE_TM_HELPER_BROKERS"
	tmHelperDirEnv     = "SLUICE_TM_HELPER_DIR"
	tmHelperModeEnv    = "SLUICE_TM_HELPER_MODE" // "exactly-once" or at-least-once
	// tmHelperSessionEnv, if set, is the child's session timeout (a
	// duration): how long the next instance waits for the group to let go
	// of a killed child's partitions (sluice's default is 10 s).
	tmHelperSessionEnv = "SLUICE_TM_HELPER_SESSION"
)

// TestTimersHelperProcess is the child of TestTimersSIGKILL, not a test: it
// runs timerGraph until SIGTERM (then Run returns) or SIGKILL, printing
// "fired N" every 100 timers it fires.
func TestTimersHelperProcess(t *testing.T) {
	brokers := os.Getenv(tmHelperBrokersEnv)
	if brokers == "" {
		t.Skip("the child process of TestTimersSIGKILL")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	var fired atomic.Int64
	g := timerGraph(func(timerFired) {
		if n := fired.Add(1); n%100 == 0 {
			fmt.Println("fired", n)
		}
	})
	opts := []topology.Option{topology.Brokers(strings.Split(brokers, ",")...),
		topology.DataDir(os.Getenv(tmHelperDirEnv)), topology.RestartBackoff(50*time.Millisecond, time.Second),
		topology.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if os.Getenv(tmHelperModeEnv) == "exactly-once" {
		opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
	}
	if s := os.Getenv(tmHelperSessionEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, tmHelperSessionEnv+":", err)
			os.Exit(2)
		}
		cfg := topology.DefaultKafkaConfig()
		cfg.Consumer.Group.Session.Timeout = d
		opts = append(opts, topology.KafkaConfig(cfg))
	}
	if err := topology.Run(ctx, g, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(2)
	}
}

// waitFired waits until the child has printed "fired N" with N >= n.
func (c *eoChild) waitFired(n int64, timeout time.Duration) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-c.lines:
			if v, ok := strings.CutPrefix(l, "fired "); ok {
				if got, _ := strconv.ParseInt(v, 10, 64); got >= n {
					return
				}
			}
		case <-c.done:
			c.t.Fatalf("child exited (%v) before firing %d timers", c.cmd.ProcessState, n)
		case <-deadline:
			c.t.Fatalf("child did not fire %d timers within %v", n, timeout)
		}
	}
}

// TestTimersSIGKILL holds thousands of pending timers in a process and
// SIGKILLs it twice: once with every timer pending, and again while the
// timers are firing, with firings in open transactions (exactly-once) or
// not yet committed (at-least-once). A last process restores what is left.
// Every timer that was not replaced or cancelled fires exactly once
// (exactly-once mode, as a read_committed consumer sees it) or at least once
// (at-least-once), never before its time, and every key's timers are gone
// from the timers topic at the end.
func TestTimersSIGKILL(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run("mode="+mode, func(t *testing.T) { timersSIGKILL(t, mode) })
	}
}

func timersSIGKILL(t *testing.T, mode string) {
	eo := mode == "exactly-once"
	// The broker's log cleaner runs every 500 ms (10 times its default), so
	// that it compacts the timers topic often while the killed processes'
	// transactions are open: kfake's own cleaner compacted past them, and
	// lost about a tenth of the timers here in exactly-once mode
	// (internal/broker's TestCompactStopsAtOpenTransaction).
	addrs := kafkatest.Start(t, broker.CleanerInterval(500*time.Millisecond)).Addrs()
	dataDir := t.TempDir()
	if _, err := topology.Provision(t.Context(), timerGraph(nil), topology.Brokers(addrs...)); err != nil {
		t.Fatalf("provision: %v", err)
	}
	// 3,000 keys, timers 8-20 s after the first process handles them: the
	// first kill comes before any is due, the second while they fire.
	const keys = 3000
	reqs, want := timerSchedule(keys, 0)
	for key, rs := range reqs {
		for i := range rs {
			if rs[i].Delay > 0 {
				rs[i].Delay = 8*time.Second + time.Duration(keyNum(key)%12000)*time.Millisecond
			}
		}
	}
	produceTimerReqs(t, addrs, reqs)
	start := func() *eoChild {
		return startChild(t, "TestTimersHelperProcess", tmHelperBrokersEnv+"="+strings.Join(addrs, ","),
			tmHelperDirEnv+"="+dataDir, tmHelperModeEnv+"="+mode)
	}

	c := start()
	waitCommitted(t, addrs, "tm-timer", tmIn.Name, 2*time.Minute)
	pending := len(pendingTimers(t, addrs, "tm-timer", eo))
	c.stop(syscall.SIGKILL)
	t.Logf("killed with %d keys' timers pending in %s", pending, topology.TimersName("tm-timer"))
	if pending < len(want) {
		t.Fatalf("%d keys have timers in the timers topic before the first kill, want %d", pending, len(want))
	}

	c = start()
	c.waitFired(int64(len(want)/3), 2*time.Minute)
	c.stop(syscall.SIGKILL)
	t.Logf("killed again after %d+ firings", len(want)/3)

	c = start()
	waitUntil(t, 2*time.Minute, "every timer fired and every key's timers gone", func() bool {
		return len(pendingTimers(t, addrs, "tm-timer", eo)) == 0
	})
	c.stop(syscall.SIGTERM)

	fired := readFired(t, addrs, eo)
	late := checkFired(t, fired, want, eo)
	t.Logf("%d firings for %d timers (%d repeated); lateness p50 %v, max %v (includes the restarts)",
		len(fired), len(want), len(fired)-len(want), quantile(late, 0.5), quantile(late, 1))
}

// keyNum returns the number in a key "kNNNN" of timerSchedule.
func keyNum(key string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(key, "k"))
	return n
}
