package proctest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of a Chromium binary for a browser test.
// Without one the test is skipped, unless it runs in CI (CI=true), where a
// missing browser must fail the build rather than hide the test.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" && os.Getenv("CI") != "false" {
		t.Fatal("no chromium on PATH, and CI is set: install Debian's chromium (apt-get install -y chromium) so the browser test runs")
	}
	t.Skip("skipping the browser test: no chromium on PATH (apt-get install -y chromium runs it)")
	return ""
}
