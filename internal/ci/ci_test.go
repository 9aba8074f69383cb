package ci_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/ci"
)

// TestStrict pins which settings make a run strict: any value of CI a CI
// host sets, and SLUICE_CI, which .ci/run sets, whatever CI says.
func TestStrict(t *testing.T) {
	for _, tc := range []struct {
		sluice, ci string
		want       string
	}{
		{"", "", ""},
		{"", "false", ""},
		{"", "0", ""},
		{"", "true", "CI=true"},
		{"", "1", "CI=1"},
		{"", "woodpecker", "CI=woodpecker"},
		{"1", "", "SLUICE_CI=1"},
		{"1", "false", "SLUICE_CI=1"},
		{"0", "true", "CI=true"},
	} {
		t.Run(tc.sluice+","+tc.ci, func(t *testing.T) {
			t.Setenv(ci.Env, tc.sluice)
			t.Setenv("CI", tc.ci)
			if got := ci.Setting(); got != tc.want || ci.Strict() != (tc.want != "") {
				t.Errorf("SLUICE_CI=%q CI=%q: Setting() = %q, Strict() = %v; want %q", tc.sluice, tc.ci, got, ci.Strict(), tc.want)
			}
		})
	}
}
