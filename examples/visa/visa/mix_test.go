package visa_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

// TestParseMix pins the --mix syntax and its errors.
func TestParseMix(t *testing.T) {
	m, err := visa.ParseMix("tourist=50, business=30,student=20")
	if err != nil || m.String() != "tourist=50,business=30,student=20" {
		t.Fatalf("ParseMix = %v, %v, want tourist=50,business=30,student=20", m, err)
	}
	if m.String() != visa.DefaultMix.String() {
		t.Errorf("default mix = %s, want %s", visa.DefaultMix, m)
	}
	for _, bad := range []string{"", "tourist", "tourist=x", "tourist=-1", "tourist=0", "tourist=1,tourist=2", "=5"} {
		if _, err := visa.ParseMix(bad); err == nil || !strings.Contains(err.Error(), "mix") {
			t.Errorf("ParseMix(%q) = %v, want an error", bad, err)
		}
	}
}
