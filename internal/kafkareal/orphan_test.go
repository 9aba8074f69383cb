package kafkareal_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

// childEnv makes the test binary, started by TestNoOrphanJVM, run
// TestOrphanChild: start a cluster, print its JVM's pid, wait to be killed.
const childEnv = "KAFKAREAL_ORPHAN_CHILD"

// TestNoOrphanJVM pins the guard against JVMs outliving a test binary that
// dies without cleaning up (a timeout's panic, SIGKILL): a child process
// starts a node and is killed with SIGKILL, and the node's JVM must die too.
func TestNoOrphanJVM(t *testing.T) {
	if _, err := kafkareal.Install(t.Context()); err != nil {
		kafkareal.Skip(t, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := 0
	sc := bufio.NewScanner(out)
	for pid == 0 && sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "jvm "); ok {
			pid, _ = strconv.Atoi(p)
		}
	}
	if pid == 0 {
		t.Fatalf("child printed no JVM pid: %v", sc.Err())
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("JVM %d not running before the child dies: %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if ctx.Err() != nil {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("JVM %d still runs 30 s after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOrphanChild is the child of TestNoOrphanJVM; it does nothing unless
// started by it.
func TestOrphanChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("run by TestNoOrphanJVM only")
	}
	c, err := kafkareal.Start(context.Background(), kafkareal.Config{Dir: dir, JVMOptions: []string{kafkareal.FastStart}})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("jvm " + strconv.Itoa(c.Node(1).Pid()) + "\n")
	select {} // until killed
}
