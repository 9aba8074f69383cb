package kafkareal_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/ci"
	"github.com/sluicehq/sluice/internal/kafkareal"
)

// TestUnavailable pins the one line a machine without Java gets, and that
// CI turns the skip into a failure: .ci/run's SLUICE_CI=1 whatever the host
// sets CI to, or any CI value a CI host sets.
func TestUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no java, no mvn
	t.Setenv(kafkareal.HomeEnv, "")
	_, err := kafkareal.Install(t.Context())
	if !errors.Is(err, kafkareal.ErrUnavailable) || !strings.Contains(err.Error(), "install Java 17") {
		t.Fatalf("Install without java = %v, want ErrUnavailable saying to install Java 17", err)
	}
	for _, tc := range []struct {
		sluiceCI, ci string
		failed       bool
	}{
		{"", "", false},
		{"", "false", false},
		{"", "true", true},
		{"", "woodpecker", true},
		{"1", "", true},
		{"1", "false", true},
	} {
		t.Run(ci.Env+"="+tc.sluiceCI+",CI="+tc.ci, func(t *testing.T) {
			t.Setenv(ci.Env, tc.sluiceCI)
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				kafkareal.Skip(r, err)
			}()
			<-done
			if r.skipped == tc.failed || r.failed != tc.failed {
				t.Fatalf("Skip: skipped %v, failed %v (%q); want failed %v", r.skipped, r.failed, r.msg, tc.failed)
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

// TestKafkaHome pins SLUICE_KAFKA_HOME: a directory with libs/kafka_*.jar is
// used as is, one without is refused with what to do.
func TestKafkaHome(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java not installed: Install checks it before SLUICE_KAFKA_HOME")
	}
	home := t.TempDir()
	t.Setenv(kafkareal.HomeEnv, home)
	if _, err := kafkareal.Install(t.Context()); !errors.Is(err, kafkareal.ErrUnavailable) || !strings.Contains(err.Error(), "libs/kafka_*.jar") {
		t.Fatalf("Install with an empty %s = %v, want ErrUnavailable naming libs/kafka_*.jar", kafkareal.HomeEnv, err)
	}
	if err := os.MkdirAll(filepath.Join(home, "libs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "libs", "kafka_2.13-"+kafkareal.Version+".jar"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := kafkareal.Install(t.Context()); err != nil || got != home {
		t.Fatalf("Install = %q, %v, want %s", got, err, home)
	}
}
