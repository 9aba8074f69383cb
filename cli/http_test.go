package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// liveURL matches the live page's address in run's log.
var liveURL = regexp.MustCompile(`msg="live page[^"]*" http=(http://\S+/)`)

// TestRunHTTP pins run's --http: it logs the page's address, the page draws
// the agent, /api/stats reports the agent's committed records once it has
// processed them, /metrics is served, and run still exits 0 on SIGTERM.
func TestRunHTTP(t *testing.T) {
	t.Parallel()
	p := start(t, "", nil, "run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0")
	base := p.waitLog(liveURL, 20*time.Second)[1]
	addrs := []string{p.waitLog(brokerAddr, 20*time.Second)[1]}
	kafkatest.Produce(t, addrs, "clicks",
		&kgo.Record{Key: []byte("u1"), Value: []byte(`{"page":"/"}`)},
		&kgo.Record{Key: []byte("u2"), Value: []byte(`{"page":"/"}`)})

	get := func(path string) (int, string) {
		resp, err := http.Get(base + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, page := get("/"); code != 200 || !strings.Contains(page, `data-agent="counter"`) {
		t.Errorf("GET / = %d, want 200 and the counter drawn:\n%.500s", code, page)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := get("/api/stats")
		var s struct {
			State  string
			Agents map[string]struct{ Committed int64 }
		}
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatalf("/api/stats: %v in %s", err, body)
		}
		if s.State == "ok" && s.Agents["counter"].Committed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/stats never showed counter's 2 committed records: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "sluice_") {
		t.Errorf("GET /metrics = %d, want 200 and sluice metrics:\n%.500s", code, body)
	}
	if code := p.stop(30 * time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if _, err := http.Get(base); err == nil {
		t.Errorf("the page still answers after run exited")
	}
}

// TestRunHTTPErrors pins the errors of --http: a taken address the user chose
// stops run with status 1 and a line saying what to do, a malformed one is a
// usage error, and a taken default falls back to a free port.
func TestRunHTTPErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"taken", nil, []string{"--http", taken}, 1, fmt.Sprintf("--http %s: address already in use", taken)},
		{"taken from env", []string{"SLUICE_HTTP=" + taken}, nil, 1, "address already in use"},
		{"malformed", nil, []string{"--http", "8080"}, 2, `or "" for no HTTP server`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			_, stderr, code := run(t, "", tc.env, args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit status %d, want %d, and stderr to contain %q; stderr:\n%s", code, tc.code, tc.want, stderr)
			}
		})
	}

	t.Run("taken default", func(t *testing.T) {
		// The test holds the default address itself: another process holding
		// it may let it go while run starts, and run would then rightly take it.
		l := holdDefaultHTTP(t)
		defer l.Close()
		p := start(t, "", nil, "run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
		m := p.waitLog(liveURL, 20*time.Second)
		if strings.Contains(m[1], ":8080/") || !strings.Contains(p.stderr.String(), "default --http address is in use") {
			t.Errorf("run with the default --http taken serves on %s; want another port and a log line saying so; stderr:\n%s", m[1], p.stderr.String())
		}
		if code := p.stop(30 * time.Second); code != 0 {
			t.Errorf("exit status after SIGTERM = %d, want 0", code)
		}
	})

	t.Run("off", func(t *testing.T) {
		p := start(t, "", nil, "run", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http", "")
		p.waitLog(regexp.MustCompile(`msg="agent running"`), 30*time.Second)
		if strings.Contains(p.stderr.String(), "live page") {
			t.Errorf(`run --http "" started the page; stderr:\n%s`, p.stderr.String())
		}
		if code := p.stop(30 * time.Second); code != 0 {
			t.Errorf("exit status after SIGTERM = %d, want 0", code)
		}
	})
}

// holdDefaultHTTP listens on the default --http address, waiting up to 30 s
// for another process to release it. It skips the test if none does: the
// test cannot show run's fallback on an address it does not control.
func holdDefaultHTTP(t *testing.T) net.Listener {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := net.Listen("tcp", "127.0.0.1:8080")
		if err == nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Skipf("127.0.0.1:8080 stayed held by another process for 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
