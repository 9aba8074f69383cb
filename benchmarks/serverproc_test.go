package benchmarks

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// serverProcess is an HTTP server of the benchmarks in a process of its own
// (the lookup service, its floor): measured in the benchmark's process it
// would share its heap, its collector and its scheduler with the
// benchmark's, and with the other server's.
type serverProcess struct {
	name   string
	cmd    *exec.Cmd
	url    string // its base URL, ending in /
	log    string // the file holding its stdout and stderr
	exited chan struct{}
}

// startServer starts bin with args and waits until a line of its output
// matches ready, whose first group is the URL it answers on. The process
// stops when tb ends.
func startServer(tb testing.TB, name string, ready *regexp.Regexp, bin string, args ...string) *serverProcess {
	tb.Helper()
	p := &serverProcess{name: name, log: filepath.Join(tb.TempDir(), name+".log"), exited: make(chan struct{})}
	out, err := os.Create(p.log)
	if err != nil {
		tb.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	w.Close()
	urls := make(chan string, 1)
	go func() { // copies its output to the log until it exits
		defer out.Close()
		sc, sent := bufio.NewScanner(r), false
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			if m := ready.FindStringSubmatch(sc.Text()); m != nil && !sent {
				sent = true
				urls <- m[1]
			}
		}
		r.Close()
	}()
	go func() { p.cmd.Wait(); close(p.exited) }()
	tb.Cleanup(p.stop)
	select {
	case p.url = <-urls:
	case <-p.exited:
		tb.Fatalf("%s exited before it served: %s", name, p.output())
	case <-time.After(2 * time.Minute):
		tb.Fatalf("%s did not serve within 2 minutes: %s", name, p.output())
	}
	return p
}

// output returns what the process wrote so far.
func (p *serverProcess) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// cpu returns the CPU time the process has used.
func (p *serverProcess) cpu(tb testing.TB) time.Duration { return procCPU(tb, p.cmd.Process.Pid) }

// peakRSS returns the most memory the process has held so far (VmHWM), in
// MB.
func (p *serverProcess) peakRSS() float64 {
	return float64(vmHWM(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))) / (1 << 20)
}

// alive fails tb if the process has exited.
func (p *serverProcess) alive(tb testing.TB) {
	tb.Helper()
	select {
	case <-p.exited:
		tb.Fatalf("%s exited: %s", p.name, p.output())
	default:
	}
}

// stop stops the process as SIGTERM does, killing it after 30 s.
func (p *serverProcess) stop() { terminate(p.cmd.Process, p.exited) }

// terminate sends proc SIGTERM and waits until exited is closed, killing
// proc if that takes more than 30 s.
func terminate(proc *os.Process, exited <-chan struct{}) {
	proc.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		proc.Kill()
		<-exited
	}
}
