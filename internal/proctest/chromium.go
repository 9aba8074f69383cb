package proctest

import (
	"os/exec"
	"testing"

	"github.com/sluicehq/sluice/internal/ci"
)

// Chromium returns the path of a Chromium binary for a browser test.
// Without one the test is skipped, unless CI runs it ([ci.Strict]), where a
// missing browser must fail the build rather than hide the test.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if s := ci.Setting(); s != "" {
		t.Fatalf("no chromium on PATH, and %s: install Debian's chromium (apt-get install -y chromium) so the browser test runs", s)
	}
	t.Skip("skipping the browser test: no chromium on PATH (apt-get install -y chromium runs it)")
	return ""
}
