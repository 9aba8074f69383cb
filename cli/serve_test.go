package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestServeUsageErrors pins serve's usage errors: exit status 2 and one line
// saying what to fix.
func TestServeUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no tables", []string{"serve"}, []string{"--tables is required", "counter-table"}},
		{"unknown table", []string{"serve", "--tables", "counter-table,clicks"}, []string{`unknown table "clicks"`, "counter-table"}},
		{"no address", []string{"serve", "--tables", "counter-table", "--http", ""}, []string{`--http ""`, "127.0.0.1:8081"}},
		{"bad stale-after", []string{"serve", "--tables", "counter-table", "--stale-after", "0s"}, []string{"--stale-after 0s", "positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, "", nil, tc.args...)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 2 || stdout != "" || len(lines) != 1 {
				t.Fatalf("exit status %d, stdout %q, stderr %q; want 2, nothing and one line", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr = %q, want it to contain %q", lines[0], w)
				}
			}
		})
	}
}

// servingURL matches the base URL serve logs.
var servingURL = regexp.MustCompile(`msg="serving lookups.* http=(\S+)`)

// get returns the answer to a GET of url, and its body.
func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// getBody returns the body of a GET of url.
func getBody(t *testing.T, url string) string {
	t.Helper()
	_, b := get(t, url)
	return string(b)
}

// getValue returns the status and the value of a GET /tables/... answer.
func getValue(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, b := get(t, url)
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	_ = json.Unmarshal(b, &v)
	return resp.StatusCode, string(v.Value), resp.Header
}

// TestServeReplicas runs the agents with 'run' on its embedded broker and two
// 'serve' replicas against it with --brokers, each with its own data dir:
// both answer every lookup, and keep answering with the same values once
// 'run' has stopped and its broker with it. They exit 0 on SIGTERM.
func TestServeReplicas(t *testing.T) {
	t.Parallel()
	env := []string{"SLUICE_LOG_LEVEL=info"}
	runner := start(t, "", env, "run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http", "")
	addr := runner.waitLog(brokerAddr, 20*time.Second)[1]
	runner.waitLog(regexp.MustCompile(`msg="agent running" agent=counter`), 30*time.Second)
	click := func(user string) *kgo.Record { return &kgo.Record{Key: []byte(user), Value: []byte(`{"page":"/"}`)} }
	kafkatest.Produce(t, []string{addr}, "clicks", click("u1"), click("u2"), click("u1"), click("u1"))

	var replicas []*proc
	var urls []string
	for range 2 {
		p := start(t, "", env, "serve", "--tables", "counter-table", "--brokers", addr, "--http", "127.0.0.1:0", "--data-dir", t.TempDir())
		urls = append(urls, p.waitLog(servingURL, 30*time.Second)[1])
		p.waitLog(regexp.MustCompile(`msg="every table recovered`), 30*time.Second)
		replicas = append(replicas, p)
	}
	for _, u := range urls {
		kafkatest.WaitFor(t, 30*time.Second, func() bool {
			code, v, _ := getValue(t, u+"tables/counter-table/u1")
			return code == 200 && v == "3"
		})
	}

	if code := runner.stop(30 * time.Second); code != 0 {
		t.Fatalf("run exited %d after SIGTERM; stderr:\n%s", code, runner.stderr.String())
	}
	for _, u := range urls {
		for _, key := range []string{"u1", "u2"} {
			code, v, h := getValue(t, u+"tables/counter-table/"+key)
			if want := map[string]string{"u1": "3", "u2": "1"}[key]; code != 200 || v != want {
				t.Errorf("GET %s with the broker gone = %d %s, want 200 %s", u+"tables/counter-table/"+key, code, v, want)
			}
			if h.Get("Sluice-View-Age") == "" {
				t.Errorf("no Sluice-View-Age header from %s", u)
			}
		}
	}
	for _, p := range replicas {
		if code := p.stop(30 * time.Second); code != 0 {
			t.Errorf("serve exited %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
		}
	}
}

// TestServeEmbedded runs serve on its own embedded broker: a table written
// there by any client is served.
func TestServeEmbedded(t *testing.T) {
	t.Parallel()
	p := start(t, "", []string{"SLUICE_LOG_LEVEL=info"}, "serve", "--tables", "counter-table",
		"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", t.TempDir())
	addr := p.waitLog(brokerAddr, 20*time.Second)[1]
	url := p.waitLog(servingURL, 30*time.Second)[1]
	kafkatest.Produce(t, []string{addr}, "counter-table", &kgo.Record{Key: []byte("u9"), Value: []byte("7")})
	kafkatest.WaitFor(t, 30*time.Second, func() bool {
		code, v, _ := getValue(t, url+"tables/counter-table/u9")
		return code == 200 && v == "7"
	})
	if !strings.Contains(getBody(t, url+"metrics"), `sluice_lookup_keys_total{outcome="found",table="counter-table"}`) {
		t.Errorf("/metrics lacks the lookup counters")
	}
	if code := p.stop(30 * time.Second); code != 0 {
		t.Errorf("serve exited %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}

// TestServeWaitsForCluster starts serve while its cluster is down: it says
// so in one line and waits (SIGTERM then exits 0) instead of exiting 1, and
// serves once the broker comes up.
func TestServeWaitsForCluster(t *testing.T) {
	t.Parallel()
	rb := kafkatest.StartRestartable(t)
	rb.Stop()
	addr := rb.Addrs()[0]
	env := []string{"SLUICE_LOG_LEVEL=info"}
	waiting := regexp.MustCompile(`level=WARN msg="cannot reach the cluster: waiting for it`)

	p := start(t, "", env, "serve", "--tables", "counter-table", "--brokers", addr, "--http", "127.0.0.1:0", "--data-dir", t.TempDir())
	p.waitLog(waiting, 60*time.Second)
	if code := p.stop(30 * time.Second); code != 0 {
		t.Fatalf("serve waiting for its cluster exited %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
	}

	p = start(t, "", env, "serve", "--tables", "counter-table", "--brokers", addr, "--http", "127.0.0.1:0", "--data-dir", t.TempDir())
	p.waitLog(waiting, 60*time.Second)
	rb.Start()
	u := p.waitLog(servingURL, 60*time.Second)[1]
	p.waitLog(regexp.MustCompile(`msg="every table recovered`), 60*time.Second)
	kafkatest.Produce(t, []string{addr}, "counter-table", &kgo.Record{Key: []byte("u1"), Value: []byte("7")})
	kafkatest.WaitFor(t, 30*time.Second, func() bool {
		code, v, _ := getValue(t, u+"tables/counter-table/u1")
		return code == 200 && v == "7"
	})
	if code := p.stop(30 * time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}

// TestServeRestartsDuringOutage restarts serve on its data dir while its
// cluster is down: it says so in one line and answers from the copy it
// recovered before at once, 200 with the value, and exits 0 on SIGTERM.
func TestServeRestartsDuringOutage(t *testing.T) {
	t.Parallel()
	rb := kafkatest.StartRestartable(t)
	addr := rb.Addrs()[0]
	env := []string{"SLUICE_LOG_LEVEL=info"}
	dir := t.TempDir()
	args := []string{"serve", "--tables", "counter-table", "--brokers", addr, "--http", "127.0.0.1:0", "--data-dir", dir}

	p := start(t, "", env, args...)
	u := p.waitLog(servingURL, 60*time.Second)[1]
	kafkatest.Produce(t, []string{addr}, "counter-table", &kgo.Record{Key: []byte("u1"), Value: []byte("7")})
	kafkatest.WaitFor(t, 30*time.Second, func() bool {
		code, v, _ := getValue(t, u+"tables/counter-table/u1")
		return code == 200 && v == "7"
	})
	if code := p.stop(30 * time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}

	rb.Stop()
	p = start(t, "", env, args...)
	p.waitLog(regexp.MustCompile(`level=WARN msg="cannot reach the cluster: waiting for it, answering lookups from the local copies`), 60*time.Second)
	u = p.waitLog(servingURL, 60*time.Second)[1]
	// Serving starts as the copy opens: it answers within moments, not once
	// the cluster is back.
	kafkatest.WaitFor(t, 10*time.Second, func() bool {
		code, _, _ := getValue(t, u+"tables/counter-table/u1")
		return code == 200
	})
	for range 20 {
		if code, v, h := getValue(t, u+"tables/counter-table/u1"); code != 200 || v != "7" || h.Get("Sluice-View-Age") == "" {
			t.Fatalf("GET u1 from serve restarted during the outage = %d %s (age %q), want 200 7 with an age", code, v, h.Get("Sluice-View-Age"))
		}
	}
	if code := p.stop(30 * time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}
