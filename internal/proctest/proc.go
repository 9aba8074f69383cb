package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Proc is a process a test started with [Start].
type Proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  fmt.Stringer
	done chan struct{} // closed when the process has exited
}

// Start starts cmd, called name in failure messages, in the test's
// environment less its SLUICE_ variables (so that a developer's settings do
// not leak in), plus cmd.Env. The caller sets cmd's Stdout and Stderr; out
// is what the process wrote, shown when the test fails. A race-enabled
// binary exits without its usual second of delay unless GORACE says
// otherwise. The process is killed when the test ends if it still runs.
func Start(t testing.TB, name string, cmd *exec.Cmd, out fmt.Stringer) *Proc {
	t.Helper()
	extra := cmd.Env
	cmd.Env = nil
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if _, ok := os.LookupEnv("GORACE"); !ok {
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	cmd.Env = append(cmd.Env, extra...)
	p := &Proc{t: t, name: name, cmd: cmd, out: out, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", name, cmd.Args, err)
	}
	go func() {
		cmd.Wait() // the exit status is in cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		killed := !p.Exited()
		if killed {
			cmd.Process.Kill()
			<-p.done
		}
		if killed || t.Failed() {
			t.Logf("%s %v (%v, killed at the end of the test: %v); output:\n%s", name, cmd.Args[1:], cmd.ProcessState, killed, out.String())
		}
	})
	return p
}

// Pid returns the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Name returns the name the process was started with.
func (p *Proc) Name() string { return p.name }

// Signal sends sig to the process, failing the test if it cannot.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: send %v: %v", p.name, sig, err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// status, -1 if a signal killed it. It fails the test at the timeout.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v; output:\n%s", p.name, timeout, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// State says whether the process runs, or how it exited.
func (p *Proc) State() string {
	if p.Exited() {
		return p.cmd.ProcessState.String()
	}
	return "running"
}
