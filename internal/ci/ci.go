// Package ci tells a test whether a prerequisite it lacks (Java and Maven
// for Apache Kafka, Chromium for the browser test) must fail it rather than
// skip it: where CI runs, a skipped test is a test that does not exist.
package ci

import (
	"os"
	"slices"
)

// Env is the variable .ci/run sets to 1, so that CI fails where a
// prerequisite is missing whatever the CI host sets $CI to.
const Env = "SLUICE_CI"

// Strict reports whether a test must fail where a prerequisite is missing:
// when [Env] or CI is set to anything but "", "0" or "false" (CI hosts set
// CI=true, CI=1 or their own name).
func Strict() bool { return Setting() != "" }

// Setting returns the variable that makes the run [Strict], as NAME=value
// for messages, or "" if none does.
func Setting() string {
	for _, name := range []string{Env, "CI"} {
		if v := os.Getenv(name); !slices.Contains([]string{"", "0", "false"}, v) {
			return name + "=" + v
		}
	}
	return ""
}
