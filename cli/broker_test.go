package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestBroker pins that the broker command serves Kafka clients on the address
// it logs, keeps its log in DIR/broker, and exits 0 on SIGTERM. It takes its
// data dir from the environment, and --listen from the command line over a
// variable that would not parse.
func TestBroker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, "nil", []string{"SLUICE_DATA_DIR=" + dir, "SLUICE_LISTEN=nonsense"},
		"broker", "--listen", "127.0.0.1:0")
	addrs := []string{p.waitLog(brokerAddr, 20*time.Second)[1]}

	if _, err := kafkatest.Admin(t, addrs).CreateTopic(t.Context(), 1, 1, nil, "greetings"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	kafkatest.Produce(t, addrs, "greetings", &kgo.Record{Key: []byte("k"), Value: []byte("hello")})
	recs := kafkatest.ConsumeN(t, addrs, "greetings", 1)
	if got := string(recs[0].Value); got != "hello" {
		t.Errorf("consumed %q, want %q", got, "hello")
	}

	if code := p.stop(10 * time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "broker stopped") {
		t.Errorf("stderr does not say the broker stopped:\n%s", p.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "broker")); err != nil {
		t.Errorf("broker state not in DIR/broker: %v", err)
	}
}

// TestBrokerPortInUse pins that a busy --listen port is a runtime failure
// (exit status 1) reported in one line that says what to do.
func TestBrokerPortInUse(t *testing.T) {
	t.Parallel()
	busy := kafkatest.Start(t).Addrs()[0]
	_, stderr, code := run(t, "nil", nil, "broker", "--listen", busy, "--data-dir", t.TempDir(), "--log-level", "error")
	if code != 1 {
		t.Errorf("exit status = %d, want 1", code)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "address already in use") || !strings.Contains(stderr, "--listen") {
		t.Errorf("stderr = %q, want one line saying the address is in use and to change --listen", stderr)
	}
}
