package kafkareal

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// spawner starts processes from one goroutine locked to its own OS thread,
// with PR_SET_PDEATHSIG set to SIGKILL. The kernel kills such a child when
// the thread that forked it exits, which is when the process exits for any
// reason (a test binary killed by its timeout, SIGKILL, a panic), or when
// the spawner closes. Forking from an arbitrary goroutine would tie each
// JVM to whichever thread the scheduler ran it on, and Go ends the threads
// of goroutines that exit locked: the JVM would die at a random moment.
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// Never unlocked: when this goroutine returns, Go ends the thread,
		// and the kernel kills every child still running.
		runtime.LockOSThread()
		for r := range s.reqs {
			r.err <- r.cmd.Start()
		}
	}()
	return s
}

// start starts cmd in its own process group, to be killed with the
// spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	s.reqs <- r
	return <-r.err
}

// close ends the spawner's thread (killing any child still running) and
// waits for it.
func (s *spawner) close() {
	close(s.reqs)
	<-s.done
}

// process is a started command and the channel closed when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// run starts cmd with s and waits for it in the background.
func run(s *spawner, cmd *exec.Cmd) (*process, error) {
	if err := s.start(cmd); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait() // the outcome is in cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits for the process to exit.
func (p *process) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It reports whether the process exited by itself.
func (p *process) stop(grace time.Duration) bool {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.kill()
		return false
	}
}

// String describes the process for error messages.
func (p *process) String() string {
	return fmt.Sprintf("pid %d (%v)", p.cmd.Process.Pid, p.cmd.ProcessState)
}
