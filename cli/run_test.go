package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestRunEmbedded pins the whole life of 'run' on its embedded broker, in both
// modes: it logs the broker's address and the agents' start, processes records
// produced by an outside client into the sink (in transactions, with markers,
// only with --exactly-once or its variable), and exits 0 soon after SIGTERM.
func TestRunEmbedded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		txns bool // whether the sink is written in transactions
	}{
		{name: "at-least-once"},
		{name: "exactly-once", args: []string{"--exactly-once"}, txns: true},
		{name: "exactly-once from env", env: []string{"SLUICE_EXACTLY_ONCE=true"}, txns: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runEmbedded(t, tc.env, tc.args, tc.txns)
		})
	}
}

func runEmbedded(t *testing.T, env, args []string, txns bool) {
	p := start(t, "", append([]string{"SLUICE_LOG_LEVEL=info"}, env...),
		append([]string{"run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)...)
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
	if _, markers := kafkatest.ReadCommitted(t, addrs, "counts"); (markers > 0) != txns {
		t.Errorf("counts holds %d transaction markers, want them only in exactly-once mode (%v)", markers, txns)
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
