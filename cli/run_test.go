package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestRunEmbedded pins the whole life of 'run' on its embedded broker: it logs
// the broker's address and the agents' start, processes records produced by an
// outside client into the sink, and exits 0 soon after SIGTERM.
func TestRunEmbedded(t *testing.T) {
	t.Parallel()
	p := start(t, "", []string{"SLUICE_LOG_LEVEL=info"},
		"run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	addrs := []string{p.waitLog(brokerAddr, 20*time.Second)[1]}
	p.waitLog(regexp.MustCompile(`msg="agent running" agent=counter`), 30*time.Second)

	rec := func(user string) *kgo.Record {
		return &kgo.Record{Key: []byte(user), Value: []byte(`{"page":"/"}`)}
	}
	kafkatest.Produce(t, addrs, "clicks", rec("u1"), rec("u2"), rec("u1"), rec("u1"))
	last := map[string]string{}
	for _, r := range kafkatest.ConsumeN(t, addrs, "counts", 4) {
		last[string(r.Key)] = string(r.Value)
	}
	if last["u1"] != "3" || last["u2"] != "1" {
		t.Errorf("last counts = %v, want u1:3 u2:1", last)
	}

	begin := time.Now()
	if code := p.stop(15 * time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	t.Logf("stopped in %v", time.Since(begin))
	stderr := p.stderr.String()
	if !strings.Contains(stderr, `msg=stopped`) {
		t.Errorf("stderr does not say run stopped:\n%s", stderr)
	}
	if !strings.Contains(stderr, "kcat") {
		t.Errorf("the broker's address line does not mention kcat:\n%s", stderr)
	}
}
