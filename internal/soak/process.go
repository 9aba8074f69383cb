package soak

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is a child process of the orchestrator: a broker or an agent instance.
// Its output goes to a log file that every start appends to. proc is used by
// the orchestrator's goroutine only.
type proc struct {
	name string
	args []string
	env  []string
	cmd  *exec.Cmd
	// ready, if set, is what the process logs once it handles SIGTERM
	// (see stop); log and from locate its output of this start.
	ready string
	log   string
	from  int64
	done  chan struct{} // closed when cmd has exited
	// expected is set when the orchestrator killed or stopped the process,
	// so its exit is no surprise.
	expected bool
}

// startProc starts bin with args in a process group of its own, appending its
// output to logPath. The environment is the orchestrator's without SLUICE_
// variables, so that none changes a flag the orchestrator sets, plus env.
func startProc(bin, name, logPath string, env []string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close() // the child has its own descriptor
	fmt.Fprintf(f, "=== %s: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	from, _ := f.Seek(0, io.SeekEnd)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if _, ok := os.LookupEnv("GORACE"); !ok {
		// A race-enabled binary otherwise waits a second before it exits.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, args: args, env: env, cmd: cmd, log: logPath, from: from, done: make(chan struct{})}
	go func() {
		cmd.Wait() // the outcome is in cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill kills the process group with SIGKILL and waits for the process to
// exit.
func (p *proc) kill() {
	p.expected = true
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // fails only if it is gone already
	<-p.done
}

// waitReady waits up to timeout for the process to log p.ready, if set, or
// to exit. A process sent SIGTERM before its signal handler is installed
// dies of the signal (status -1): the orchestrator stopped agents that it
// had started a few milliseconds before, when the output caught up right
// after a fault (seen on Apache Kafka, whose faults take longer).
func (p *proc) waitReady(timeout time.Duration) {
	if p.ready == "" {
		return
	}
	deadline := time.Now().Add(timeout)
	for !p.exited() && time.Now().Before(deadline) {
		b, err := os.ReadFile(p.log)
		if err == nil && int64(len(b)) > p.from && strings.Contains(string(b[p.from:]), p.ready) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a file another process writes
	}
}

// errStopTimeout means a process did not exit after SIGTERM and was killed.
var errStopTimeout = errors.New("did not exit after SIGTERM")

// stop sends SIGTERM and waits up to timeout for the process to exit; then it
// kills it. It returns an error unless the process exited with status 0.
func (p *proc) stop(timeout time.Duration) error {
	p.waitReady(timeout)
	p.expected = true
	p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it is gone already
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s %w within %v: killed", p.name, errStopTimeout, timeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited with status %d after SIGTERM, want 0 (%v)", p.name, code, p.cmd.ProcessState)
	}
	return nil
}
