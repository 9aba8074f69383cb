package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/topology"
)

// shortSessionMain is the CLI of testGraph whose run command gives Run a
// KafkaConfig with a 3 s session timeout, below the 6 s the embedded broker
// (as Kafka) accepts: a binary that configures its clients badly.
func shortSessionMain() {
	cli.Program{Build: func() (*cobra.Command, error) {
		root := cli.Command(testGraph())
		for _, c := range root.Commands() {
			if c.Name() != "run" {
				continue
			}
			prev := c.PreRunE
			c.PreRunE = func(c *cobra.Command, args []string) error {
				if prev != nil {
					if err := prev(c, args); err != nil {
						return err
					}
				}
				cfg := topology.DefaultKafkaConfig()
				cfg.Consumer.Group.Session.Timeout = 3 * time.Second
				c.SetContext(cli.WithRunOptions(c.Context(), func([]topology.Option) []topology.Option {
					return []topology.Option{topology.KafkaConfig(cfg)}
				}))
				return nil
			}
		}
		return root, nil
	}}.Main()
}

// TestRunRefusedSessionTimeout pins that 'run' with a session timeout the
// broker refuses exits with the usage status and one line that says what
// to change, instead of running on while its agent rejoins forever.
func TestRunRefusedSessionTimeout(t *testing.T) {
	t.Parallel()
	_, stderr, code := run(t, "shortsession", nil, "run", "--listen", "127.0.0.1:0", "--http", "", "--data-dir", t.TempDir())
	if code != cli.ExitUsage {
		t.Fatalf("exit status = %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"sluice: ", "INVALID_SESSION_TIMEOUT", "session timeout 3s", "Consumer.Group.Session.Timeout"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line of stderr = %q, want it to say %q; stderr:\n%s", last, want, stderr)
		}
	}
	if strings.Contains(last, "--help") {
		t.Errorf("last line of stderr = %q: the fix is in the program's KafkaConfig, not a flag", last)
	}
}
