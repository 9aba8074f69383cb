package lookup_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/lookup"
	"github.com/sluicehq/sluice/topology"
)

func TestNewRejects(t *testing.T) {
	g := testGraph(t)
	brokers := lookup.Views(topology.Brokers("127.0.0.1:1"))
	for _, tc := range []struct {
		name   string
		tables []string
		opts   []lookup.Option
		want   error
	}{
		{"no tables", nil, []lookup.Option{brokers}, lookup.ErrNoTables},
		{"unknown table", []string{"nope-table"}, []lookup.Option{brokers}, topology.ErrUnknownTopic},
		{"a stream", []string{"clicks"}, []lookup.Option{brokers}, topology.ErrUnknownTopic},
		{"no brokers", []string{"counter-table"}, nil, topology.ErrNoBrokers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := lookup.New(g, tc.tables, tc.opts...); !errors.Is(err, tc.want) {
				t.Fatalf("New = %v, want %v", err, tc.want)
			}
		})
	}
	s, err := lookup.New(g, []string{"counter-table", "features-table", "counter-table"}, brokers)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Tables(); len(got) != 2 || got[0] != "counter-table" || got[1] != "features-table" {
		t.Errorf("Tables() = %q, want counter-table, features-table", got)
	}
	if s.Features() != "features-table" || s.Ready() {
		t.Errorf("Features() = %q, Ready() = %t before Run, want features-table, false", s.Features(), s.Ready())
	}
	if st := s.Status(); st.Status != lookup.StatusStopped {
		t.Errorf("Status before Run = %+v, want stopped", st)
	}
}

// asOf matches the as_of fields of a body.
var asOf = regexp.MustCompile(`"as_of":"([^"]+)"`)

// normalize replaces in body each as_of at or after since (a record time
// of this test) with NOW, and fails t for an as_of that is not a time.
func normalize(t *testing.T, body string, since time.Time) string {
	t.Helper()
	return asOf.ReplaceAllStringFunc(body, func(m string) string {
		at, err := time.Parse(time.RFC3339Nano, asOf.FindStringSubmatch(m)[1])
		if err != nil {
			t.Fatalf("as_of in %s: %v", body, err)
		}
		if at.Before(since) {
			return m
		}
		if at.After(time.Now()) {
			t.Errorf("as_of %v is in the future", at)
		}
		return `"as_of":"NOW"`
	})
}

// TestServe serves three tables of a graph, one of feature vectors, one of
// counts and one of bytes, from the embedded broker, and checks every route:
// values decoded with each table's codec and written as JSON with the time
// they were written, batches, the feature store's form, errors, health,
// readiness and metrics.
func TestServe(t *testing.T) {
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	g := testGraph(t)
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir())}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Second)
	sendRound(t, addrs, 3, 1)
	click := func(user string) *kgo.Record { return &kgo.Record{Key: []byte(user), Value: []byte("/")} }
	kafkatest.Produce(t, addrs, clicks.Name, click("u1"), click("u2"), click("u1"))
	kafkatest.Produce(t, addrs, raw.Name,
		&kgo.Record{Key: []byte("json"), Value: []byte(`{"a":1}`)},
		&kgo.Record{Key: []byte("text"), Value: []byte("plain text")},
		&kgo.Record{Key: []byte("bin"), Value: []byte{0xff, 0}})
	running(t, g, opts...)
	s := serve(t, g, []string{"features-table", "counter-table", "raw-table"},
		lookup.Views(topology.Brokers(addrs...), topology.DataDir(t.TempDir())))
	s.waitRound(t, 3, 1)
	kafkatest.WaitFor(t, time.Minute, func() bool {
		st := s.Status()
		for _, ts := range st.Tables {
			if ts.Lag == nil || *ts.Lag != 0 {
				return false
			}
		}
		return st.Status == lookup.StatusServing && strings.Contains(s.must(t, "/tables/counter-table/u1", "").body, `"value":2`)
	})

	before := s.must(t, "/metrics", "").body
	const features1 = `{"features":{"f":{"value":101,"as_of":"2025-01-01T12:01:00Z"}}}`
	for _, tc := range []struct {
		name, path, body string
		wantCode         int
		wantBody         string // after normalize; "" to skip
		fresh            bool   // carries the freshness headers
	}{
		{"vector", "/tables/features-table/e1", "", 200, `{"table":"features-table","key":"e1","value":` + features1 + `,"as_of":"NOW"}`, true},
		{"count", "/tables/counter-table/u1", "", 200, `{"table":"counter-table","key":"u1","value":2,"as_of":"NOW"}`, true},
		{"missing key", "/tables/counter-table/nobody", "", 404, `{"error":"no value for key \"nobody\" in table \"counter-table\""}`, true},
		{"escaped key", "/tables/counter-table/a%2Fb", "", 404, `{"error":"no value for key \"a/b\" in table \"counter-table\""}`, true},
		{"json bytes", "/tables/raw-table/json", "", 200, `{"table":"raw-table","key":"json","value":{"a":1},"as_of":"NOW"}`, true},
		{"text bytes", "/tables/raw-table/text", "", 200, `{"table":"raw-table","key":"text","value":"plain text","as_of":"NOW"}`, true},
		{"other bytes", "/tables/raw-table/bin", "", 200, `{"table":"raw-table","key":"bin","value":"\"\\xff\\x00\"","as_of":"NOW"}`, true},
		{"table not served", "/tables/clicks/u1", "", 404, `{"error":"table \"clicks\" is not served here: ask for one of [\"features-table\" \"counter-table\" \"raw-table\"]"}`, false},
		{"batch", "/tables/counter-table", `{"keys":["u1","nobody","u2"]}`, 200,
			`{"table":"counter-table","values":[{"key":"u1","found":true,"value":2,"as_of":"NOW"},{"key":"nobody","found":false},{"key":"u2","found":true,"value":1,"as_of":"NOW"}]}`, true},
		{"batch of vectors", "/tables/features-table", `{"keys":["e0"]}`, 200,
			`{"table":"features-table","values":[{"key":"e0","found":true,"value":{"features":{"f":{"value":100,"as_of":"2025-01-01T12:01:00Z"}}},"as_of":"NOW"}]}`, true},
		{"batch not JSON", "/tables/counter-table", `{"keys":"u1"}`, 400, "", true},
		{"batch too large", "/tables/counter-table", `{"keys":[` + strings.Repeat(`"u",`, lookup.MaxBatch) + `"u"]}`, 400,
			`{"error":"1001 keys: ask for at most 1000 per request"}`, true},
		{"feature vector", "/features/e2", "", 200, `{"entity":"e2","features":{"f":{"value":102,"as_of":"2025-01-01T12:01:00Z"}},"as_of":"NOW"}`, true},
		{"unknown entity", "/features/zz", "", 404, `{"error":"unknown entity \"zz\""}`, true},
		{"feature batch", "/features", `{"entities":["e0","zz"]}`, 200,
			`{"vectors":[{"entity":"e0","found":true,"features":{"f":{"value":100,"as_of":"2025-01-01T12:01:00Z"}},"as_of":"NOW"},{"entity":"zz","found":false}]}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.must(t, tc.path, tc.body)
			if a.code != tc.wantCode {
				t.Errorf("status = %d, want %d (%s)", a.code, tc.wantCode, a.body)
			}
			if got := normalize(t, a.body, since); tc.wantBody != "" && got != tc.wantBody {
				t.Errorf("body = %s\nwant   %s", got, tc.wantBody)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			age, lag := a.header.Get(lookup.HeaderAge), a.header.Get(lookup.HeaderLag)
			if tc.fresh != (age != "" && lag != "") {
				t.Errorf("%s = %q, %s = %q; want both set: %t", lookup.HeaderAge, age, lookup.HeaderLag, lag, tc.fresh)
			}
		})
	}

	for _, path := range []string{"/readyz", "/healthz", "/tables"} {
		if a := s.must(t, path, ""); a.code != 200 || !strings.Contains(a.body, `"status":"serving"`) || !strings.Contains(a.body, `"table":"raw-table","status":"serving","recovered":true`) {
			t.Errorf("GET %s = %s, want 200 serving with every table", path, a)
		}
	}
	after := s.must(t, "/metrics", "").body
	for series, want := range map[string]float64{
		`sluice_lookup_keys_total{outcome="found",table="counter-table"}`:               3,
		`sluice_lookup_keys_total{outcome="missing",table="counter-table"}`:             3,
		`sluice_lookup_requests_total{code="200",kind="batch",table="counter-table"}`:   1,
		`sluice_lookup_requests_total{code="404",kind="single",table="features-table"}`: 1,
		`sluice_lookup_request_seconds_count{kind="single",table="raw-table"}`:          3,
	} {
		if got := metric(after, series) - metric(before, series); got != want {
			t.Errorf("%s grew by %v during the requests, want %v", series, got, want)
		}
	}
	for _, series := range []string{
		`sluice_view_recovered{table="features-table"} 1`,
		`sluice_view_lag_offsets{table="raw-table"} 0`,
		`sluice_view_age_seconds{table="counter-table"}`,
	} {
		if !strings.Contains(after, series) {
			t.Errorf("/metrics lacks %s; it has\n%s", series, grep(after, "sluice_view"))
		}
	}
}

// metric returns the value of series in the Prometheus text m, 0 if absent.
func metric(m, series string) float64 {
	for _, l := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// grep returns the lines of s that match re.
func grep(s, re string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if regexp.MustCompile(re).MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRunTwice pins that a second Run while one runs fails with ErrRunning,
// and that Run may be called again once the first returned.
func TestRunTwice(t *testing.T) {
	b := kafkatest.Start(t)
	g := testGraph(t)
	if _, err := topology.Provision(t.Context(), g, topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	s := serve(t, g, []string{"counter-table"}, lookup.Views(topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir())))
	kafkatest.WaitFor(t, time.Minute, s.Ready)
	if err := s.Run(t.Context()); !errors.Is(err, lookup.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	s.stop()
	if s.Ready() || s.Status().Status != lookup.StatusStopped {
		t.Errorf("after Run returned: Ready %t, status %s; want false, stopped", s.Ready(), s.Status().Status)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	kafkatest.WaitFor(t, time.Minute, s.Ready)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run again = %v, want nil after cancel", err)
	}
}
