package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// envHelper makes the test binary a helper process: it prints its
// environment's SLUICE_SECRET, EXTRA and GORACE, then exits 5 ("exit") or
// waits for SIGTERM and exits 3 ("term").
const envHelper = "PROCTEST_HELPER"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(envHelper); ok {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Printf("secret=%q extra=%q gorace=%q\n", os.Getenv("SLUICE_SECRET"), os.Getenv("EXTRA"), os.Getenv("GORACE"))
		if mode == "term" {
			<-term
			os.Exit(3)
		}
		os.Exit(5)
	}
	goleak.VerifyTestMain(m)
}

func TestStart(t *testing.T) {
	t.Setenv("SLUICE_SECRET", "from the developer's shell")
	t.Setenv("GORACE", "") // unset below: Start adds its own
	os.Unsetenv("GORACE")
	for _, tc := range []struct {
		mode     string
		signal   bool
		wantCode int
	}{
		{"exit", false, 5},
		{"term", true, 3},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var out Buffer
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = []string{envHelper + "=" + tc.mode, "EXTRA=x"}
			cmd.Stdout, cmd.Stderr = &out, &out
			p := Start(t, "helper", cmd, &out)
			if tc.signal {
				waitOutput(t, &out)
				if p.Exited() {
					t.Fatalf("helper exited before SIGTERM: %s", p.State())
				}
				p.Signal(syscall.SIGTERM)
			}
			if code := p.Wait(30 * time.Second); code != tc.wantCode {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			if !p.Exited() || p.State() == "running" {
				t.Errorf("after Wait: exited %v, state %q", p.Exited(), p.State())
			}
			if want := `secret="" extra="x" gorace="atexit_sleep_ms=0"`; !strings.Contains(out.String(), want) {
				t.Errorf("helper printed %q, want %q: SLUICE_ variables dropped, cmd.Env and GORACE added", out.String(), want)
			}
		})
	}
}

// waitOutput waits until the helper printed its line, so that it listens
// for SIGTERM.
func waitOutput(t *testing.T, out *Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatal("helper printed nothing within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
