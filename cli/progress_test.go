package cli_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/sluicehq/sluice/cli"
)

// TestProgressNotOnTerminal pins what a command's progress writes to a
// writer that is not a terminal: log lines, ending with the final count.
func TestProgressNotOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := cli.StartProgress(&buf, "sending", 10)
	p.Add(4)
	p.Add(6)
	p.Done()
	if !regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="sending done" done=10 rate_per_s=\S+ elapsed=\S+\n\z`).Match(buf.Bytes()) {
		t.Fatalf("output = %q, want one final log line with done=10", buf.String())
	}
}
