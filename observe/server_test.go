package observe_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/observe"
)

// serve starts srv on a free port until the test ends and returns its base URL.
func serve(t *testing.T, srv *observe.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return within 15s of its context's end")
		}
	})
	return "http://" + ln.Addr().String()
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	code, b := get(t, url)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
	return code
}

// TestServer pins the page's API on a running topology: it waits for the
// broker, then reports committed offsets, lag, dead letters, topic sizes and
// a rate above zero while records flow; looks table values up; and serves
// /metrics when given a handler.
func TestServer(t *testing.T) {
	t.Parallel()
	g := testGraph()
	addrs, _ := startBroker(t, g)
	const clicksN, users = 40, 10
	produceClicks(t, addrs, clicksN, users)
	kafkatest.Produce(t, addrs, clicks.Name, &kgo.Record{Key: []byte("u1"), Value: []byte("not json")})
	runGraph(t, g, addrs, dataDir(t, "state"))

	srv, err := observe.NewServer(g, observe.Interval(100*time.Millisecond),
		observe.Metrics(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "sluice_up 1\n") })))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, srv)
	var snap observe.Snapshot
	getJSON(t, base+"/api/stats", &snap)
	if snap.State != "waiting for the broker" {
		t.Errorf("state before SetBrokers = %q, want waiting for the broker", snap.State)
	}
	srv.SetBrokers(addrs)

	waitFor(t, 60*time.Second, "stats of the finished run", func() error {
		getJSON(t, base+"/api/stats", &snap)
		c, a := snap.Agents["counter"], snap.Agents["auditor"]
		switch {
		case snap.State != "ok":
			return fmt.Errorf("state %q: %s", snap.State, snap.Error)
		case c.Committed != clicksN+1 || c.Lag != 0 || c.DeadLetters != 1 || !c.Running:
			return fmt.Errorf("%w: counter %+v", errNotYet, c)
		case a.Committed != clicksN || a.Lag != 0 || a.DeadLetters != 0:
			return fmt.Errorf("%w: auditor %+v", errNotYet, a)
		case snap.Topics["clicks"] != clicksN+1 || snap.Topics["counts"] != clicksN || snap.Topics["counter-dlq"] != 1:
			return fmt.Errorf("%w: topics %v", errNotYet, snap.Topics)
		}
		return nil
	})
	var rows []observe.LagRow
	getJSON(t, base+"/api/lag", &rows)
	if len(rows) != 4 {
		t.Errorf("/api/lag has %d rows, want 4 (2 agents x 2 partitions): %+v", len(rows), rows)
	}

	produceClicks(t, addrs, 200, users)
	waitFor(t, 60*time.Second, "a rate above zero", func() error {
		getJSON(t, base+"/api/stats", &snap)
		if r := snap.Agents["counter"].Rate; r <= 0 {
			return fmt.Errorf("%w: counter rate %v", errNotYet, r)
		}
		return nil
	})

	lookup := func(table, key string) (int, map[string]any) {
		var v map[string]any
		code := getJSON(t, base+"/api/lookup?"+url.Values{"table": {table}, "key": {key}}.Encode(), &v)
		return code, v
	}
	waitFor(t, 60*time.Second, "u3's count", func() error {
		code, v := lookup("counter-table", "u3")
		want := map[string]any{"count": float64((clicksN + 200) / users), "last": fmt.Sprintf("/p%d", 200-users+3)}
		if got, _ := v["value"].(map[string]any); code != http.StatusOK || fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%w: lookup u3 = %d %v, want 200 %v", errNotYet, code, v, want)
		}
		return nil
	})
	if code, v := lookup("counter-table", "nobody"); code != http.StatusNotFound || !strings.Contains(fmt.Sprint(v["error"]), "not found") {
		t.Errorf("lookup of a missing key = %d %v, want 404 not found", code, v)
	}
	if code, v := lookup("no-table", "u1"); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(v["error"]), "counter-table") {
		t.Errorf("lookup in an unknown table = %d %v, want 400 naming the tables", code, v)
	}
	var tables []string
	if getJSON(t, base+"/api/tables", &tables); fmt.Sprint(tables) != "[counter-table]" {
		t.Errorf("/api/tables = %q, want [counter-table]", tables)
	}
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || string(body) != "sluice_up 1\n" {
		t.Errorf("/metrics = %d %q, want the Metrics handler's answer", code, body)
	}
	code, page := get(t, base+"/")
	for _, a := range []string{"counter", "auditor"} {
		if !strings.Contains(string(page), `data-agent="`+a+`"`) {
			t.Errorf("the page does not draw agent %q", a)
		}
	}
	if code != http.StatusOK {
		t.Errorf("GET / = %d", code)
	}
	if code, _ := get(t, base+"/static/app.js"); code != http.StatusOK {
		t.Errorf("GET /static/app.js = %d", code)
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

// remote matches what would make a browser load something from elsewhere:
// an absolute or protocol-relative URL. The SVG namespace is a name, not a
// request.
var remote = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)

// TestPageIsSelfContained pins that the page and its assets name no other
// host: it must render offline, unlike goka's monitor (FINDINGS.md).
func TestPageIsSelfContained(t *testing.T) {
	err := fs.WalkDir(os.DirFS("web"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(os.DirFS("web"), path)
		if err != nil {
			return err
		}
		for _, m := range remote.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" {
				t.Errorf("web/%s refers to %s", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestServerAsHandler pins the other way to serve the page: mounted in
// another HTTP server, with Run sampling the offsets.
func TestServerAsHandler(t *testing.T) {
	t.Parallel()
	g := testGraph()
	addrs, _ := startBroker(t, g)
	produceClicks(t, addrs, 3, 3)
	srv, err := observe.NewServer(g, observe.Brokers(addrs...), observe.Interval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sluice/", http.StripPrefix("/sluice", srv))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, 30*time.Second, "a sample", func() error {
		var snap observe.Snapshot
		getJSON(t, hs.URL+"/sluice/api/stats", &snap)
		if snap.State != "ok" || snap.Agents["counter"].Lag != 3 {
			return fmt.Errorf("%w: %+v", errNotYet, snap)
		}
		return nil
	})
	if code, page := get(t, hs.URL+"/sluice/"); code != http.StatusOK || !strings.Contains(string(page), `src="static/app.js"`) {
		t.Errorf("GET /sluice/ = %d, want the page with relative asset paths", code)
	}
	if code, _ := get(t, hs.URL+"/sluice/static/style.css"); code != http.StatusOK {
		t.Errorf("GET /sluice/static/style.css = %d, want 200", code)
	}
}

// TestViews pins the views a server mounts beside the live page: each serves
// its path, the live page links to it, and a path that would shadow the
// page's own, or a view without handler, is refused.
func TestViews(t *testing.T) {
	review := observe.View{Path: "/review/", Title: "Review queue", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "review at %s", r.URL.Path)
	})}
	srv, err := observe.NewServer(testGraph(), observe.Views(review))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/review/api/cases"); got != "review at /review/api/cases" {
		t.Errorf("GET /review/api/cases = %q, want the view's answer", got)
	}
	if page := get("/"); !strings.Contains(page, `<a class="view" href="/review/">Review queue</a>`) {
		t.Errorf("the live page does not link to the view:\n%s", page)
	}
	for _, v := range []observe.View{
		{Path: "/api/", Handler: review.Handler},
		{Path: "/static/", Handler: review.Handler},
		{Path: "review/", Handler: review.Handler},
		{Path: "/a/b/", Handler: review.Handler},
		{Path: "/review/"},
	} {
		if _, err := observe.NewServer(testGraph(), observe.Views(v)); !errors.Is(err, observe.ErrBadView) {
			t.Errorf("NewServer with view %q (handler %v) = %v, want %v", v.Path, v.Handler != nil, err, observe.ErrBadView)
		}
	}
}
