package kafkareal_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

// TestUnavailable pins the one line a machine without Java gets, and that
// CI turns the skip into a failure.
func TestUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no java, no mvn
	t.Setenv(kafkareal.HomeEnv, "")
	_, err := kafkareal.Install(t.Context())
	if !errors.Is(err, kafkareal.ErrUnavailable) || !strings.Contains(err.Error(), "install Java 17") {
		t.Fatalf("Install without java = %v, want ErrUnavailable saying to install Java 17", err)
	}
	for _, tc := range []struct {
		ci      string
		skipped bool
		failed  bool
	}{
		{"", true, false},
		{"true", false, true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv(kafkareal.RequireEnv, tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				kafkareal.Skip(r, err)
			}()
			<-done
			if r.skipped != tc.skipped || r.failed != tc.failed {
				t.Fatalf("Skip: skipped %v, failed %v (%q); want %v, %v", r.skipped, r.failed, r.msg, tc.skipped, tc.failed)
			}
		})
	}
}

// recorder records Skipf and Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
