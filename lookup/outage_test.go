package lookup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/lookup"
	"github.com/sluicehq/sluice/topology"
)

// request is one lookup the outage test makes again and again.
type request struct{ path, body string }

// lookups returns a single lookup of each entity in both forms, and a batch
// of all of them in both forms.
func lookups(n int) []request {
	var out []request
	var keys []string
	for i := range n {
		out = append(out, request{path: fmt.Sprintf("/features/e%d", i)}, request{path: fmt.Sprintf("/tables/features-table/e%d", i)})
		keys = append(keys, strconv.Quote(fmt.Sprintf("e%d", i)))
	}
	list := strings.Join(keys, ",")
	return append(out,
		request{path: "/features", body: `{"entities":[` + list + `]}`},
		request{path: "/tables/features-table", body: `{"keys":[` + list + `]}`})
}

// TestServeThroughBrokerOutage runs a graph's agents and the lookup service
// on an embedded broker, then stops the broker for 3 s: every lookup during
// the outage, single and batch, in both forms, is answered 200 from the
// service's copy with the very body it had before, the freshness header
// counts the seconds since the view last heard from the broker, /readyz
// says "stale" (still 200) and /healthz stays 200. With the broker back, the
// service shows new values. Then the feature store's agent restarts with its
// state wiped, while updates arrive: every lookup meanwhile answers 200.
func TestServeThroughBrokerOutage(t *testing.T) {
	const entities = 20
	rb := kafkatest.StartRestartable(t)
	addrs := rb.Addrs()
	g := testGraph(t)
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatal(err)
	}
	sendRound(t, addrs, entities, 1)
	stopAgents := running(t, g, opts...)
	s := serve(t, g, []string{"features-table"}, lookup.StaleAfter(time.Second),
		lookup.Views(topology.Brokers(addrs...), topology.DataDir(t.TempDir())))
	s.waitRound(t, entities, 1)
	kafkatest.WaitFor(t, time.Minute, func() bool {
		return s.Status().Status == lookup.StatusServing && s.must(t, "/features/e0", "").header.Get(lookup.HeaderLag) == "0"
	})
	reqs := lookups(entities)
	want := make([]answer, len(reqs))
	for i, r := range reqs {
		want[i] = s.must(t, r.path, r.body)
		if want[i].code != 200 {
			t.Fatalf("%s before the outage: %s", r.path, want[i])
		}
	}

	// The agents stop first: an agent idle through a broker restart fails
	// its first changelog writes after it (its connection is gone), and its
	// replay then finds those writes in its local state and skips them, so
	// they never reach the changelog (reported; not what this test is about).
	stopAgents()
	rb.Stop()
	down := time.Now()
	answered := 0
	var maxAge float64
	for time.Since(down) < 3*time.Second {
		for i, r := range reqs {
			got := s.must(t, r.path, r.body)
			if got.code != want[i].code || got.body != want[i].body {
				t.Fatalf("%s %v into the outage = %s\nwant %s", r.path, time.Since(down), got, want[i])
			}
			age, err := strconv.ParseFloat(got.header.Get(lookup.HeaderAge), 64)
			if err != nil {
				t.Fatalf("%s: %s = %q: %v", r.path, lookup.HeaderAge, got.header.Get(lookup.HeaderAge), err)
			}
			maxAge = max(maxAge, age)
			answered++
		}
	}
	if maxAge < 2 {
		t.Errorf("largest %s in 3 s of outage = %v, want 2 or more", lookup.HeaderAge, maxAge)
	}
	if a := s.must(t, "/readyz", ""); a.code != 200 || !strings.Contains(a.body, `"status":"stale"`) {
		t.Errorf("/readyz during the outage = %s, want 200 stale", a)
	}
	if a := s.must(t, "/healthz", ""); a.code != 200 {
		t.Errorf("/healthz during the outage = %s, want 200", a)
	}
	t.Logf("%d lookups in %v of broker outage, all answered as before; largest %s %.3f", answered, time.Since(down), lookup.HeaderAge, maxAge)

	rb.Start()
	stopAgents = running(t, g, opts...)
	sendRound(t, addrs, entities, 2)
	s.waitRound(t, entities, 2)
	kafkatest.WaitFor(t, time.Minute, func() bool { return s.Status().Status == lookup.StatusServing })

	// The agent restarts with its state wiped, and updates arrive meanwhile.
	stopPoll := s.poll(t, reqs)
	stopAgents()
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	sendRound(t, addrs, entities, 3)
	running(t, g, opts...)
	s.waitRound(t, entities, 3)
	if ok, failed, first := stopPoll(); failed > 0 {
		t.Errorf("%d of %d lookups failed while the agent restarted; first: %v", failed, failed+ok, first)
	}
}

// vectorRecords returns feature-table records, as the store writes them, for
// entities e0 .. e(n-1): feature f = round*100+i.
func vectorRecords(n, round int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := fmt.Sprintf(`{"features":{"f":{"value":%d,"as_of":"2025-01-01T12:0%d:00Z"}}}`, round*100+i, round)
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "e%d", i), Value: []byte(v)}
	}
	return recs
}

// provisionVectors provisions the test graph on addrs and writes round 1
// of entities vectors to its table; it returns the graph.
func provisionVectors(t *testing.T, addrs []string, entities int) *topology.Graph {
	t.Helper()
	g := testGraph(t)
	if _, err := topology.Provision(t.Context(), g, topology.Brokers(addrs...), topology.DataDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, addrs, "features-table", vectorRecords(entities, 1)...)
	return g
}

// TestServeLoadingOnlyWhenWiped restarts the lookup service while it cannot
// catch up with the table (every fetch fails): on the data dir of its last
// run it answers at once from its copy, and says how much it lacks; on a
// wiped data dir it answers 503 with Retry-After, and /readyz "loading",
// until the fetches succeed and it has caught up.
func TestServeLoadingOnlyWhenWiped(t *testing.T) {
	const entities = 10
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	g := provisionVectors(t, addrs, entities)
	dir := t.TempDir()
	views := lookup.Views(topology.Brokers(addrs...), topology.DataDir(dir))
	s := serve(t, g, []string{"features-table"}, views)
	s.waitRound(t, entities, 1)
	kafkatest.WaitFor(t, time.Minute, s.Ready)
	s.stop()

	kafkatest.Produce(t, addrs, "features-table", vectorRecords(entities, 2)...)
	fault := b.Fail(kmsg.Fetch, kerr.NotLeaderForPartition, -1, nil)
	s = serve(t, g, []string{"features-table"}, views)
	kafkatest.WaitFor(t, 10*time.Second, func() bool { return s.must(t, "/readyz", "").code == 200 })
	a := s.must(t, "/features/e3", "")
	if a.code != 200 || !strings.Contains(a.body, `"value":103`) {
		t.Errorf("/features/e3 restarted on its copy, fetches failing = %s, want 200 with round 1's 103", a)
	}
	kafkatest.WaitFor(t, 10*time.Second, func() bool {
		return s.must(t, "/features/e3", "").header.Get(lookup.HeaderLag) == strconv.Itoa(entities)
	})
	s.stop()

	if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}
	s = serve(t, g, []string{"features-table"}, views)
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		for _, r := range []request{{path: "/features/e3"}, {path: "/tables/features-table/e3"}, {path: "/features", body: `{"entities":["e3"]}`}} {
			if a := s.must(t, r.path, r.body); a.code != 503 || a.header.Get("Retry-After") == "" {
				t.Fatalf("%s on a wiped data dir, fetches failing, %v after start = %s, want 503 with Retry-After", r.path, time.Since(start), a)
			}
		}
		if a := s.must(t, "/readyz", ""); a.code != 503 || !strings.Contains(a.body, `"status":"loading"`) {
			t.Fatalf("/readyz on a wiped data dir = %s, want 503 loading", a)
		}
		if a := s.must(t, "/healthz", ""); a.code != 200 {
			t.Fatalf("/healthz on a wiped data dir = %s, want 200: the service is alive", a)
		}
	}
	if fault.Hits() == 0 {
		t.Fatal("no fetch failed: the test did not stall recovery")
	}
	fault.Remove()
	s.waitRound(t, entities, 2)
	if a := s.must(t, "/readyz", ""); a.code != 200 {
		t.Errorf("/readyz once recovered = %s, want 200", a)
	}
}

// TestServeStartsDuringBrokerOutage restarts the lookup service while the
// broker is down, on the data dir of its last run: it answers every lookup
// at once, 200 with the body it had before, with the age of its copy
// (counted from when it last heard from the broker, before the outage) and
// no lag header (unknown), and /readyz says "stale". With the broker back it
// follows the table again: new values, lag 0, /readyz "serving", and no
// lookup fails meanwhile.
func TestServeStartsDuringBrokerOutage(t *testing.T) {
	const entities = 10
	rb := kafkatest.StartRestartable(t)
	addrs := rb.Addrs()
	g := provisionVectors(t, addrs, entities)
	views := lookup.Views(topology.Brokers(addrs...), topology.DataDir(t.TempDir()))
	s := serve(t, g, []string{"features-table"}, views, lookup.StaleAfter(time.Second))
	s.waitRound(t, entities, 1)
	kafkatest.WaitFor(t, time.Minute, func() bool {
		return s.Status().Status == lookup.StatusServing && s.must(t, "/features/e0", "").header.Get(lookup.HeaderLag) == "0"
	})
	reqs := lookups(entities)
	want := make([]answer, len(reqs))
	for i, r := range reqs {
		if want[i] = s.must(t, r.path, r.body); want[i].code != 200 {
			t.Fatalf("%s before the outage: %s", r.path, want[i])
		}
	}
	s.stop()

	rb.Stop()
	down := time.Now()
	s = serve(t, g, []string{"features-table"}, views, lookup.StaleAfter(time.Second))
	kafkatest.WaitFor(t, 5*time.Second, func() bool { return s.must(t, "/readyz", "").code == 200 })
	for time.Since(down) < 2*time.Second {
		for i, r := range reqs {
			got := s.must(t, r.path, r.body)
			if got.code != 200 || got.body != want[i].body {
				t.Fatalf("%s started during the outage, %v in = %s\nwant %s", r.path, time.Since(down), got, want[i])
			}
			age, err := strconv.ParseFloat(got.header.Get(lookup.HeaderAge), 64)
			if err != nil || age < time.Since(down).Seconds()-0.1 {
				t.Fatalf("%s: %s = %q (%v), want at least the %v since the broker went down", r.path, lookup.HeaderAge, got.header.Get(lookup.HeaderAge), err, time.Since(down))
			}
			if lag, ok := got.header[lookup.HeaderLag]; ok {
				t.Fatalf("%s: %s = %q while the broker was never heard in this run, want none (unknown)", r.path, lookup.HeaderLag, lag)
			}
		}
	}
	// The copy last heard from the broker more than StaleAfter ago.
	if a := s.must(t, "/readyz", ""); a.code != 200 || !strings.Contains(a.body, `"status":"stale"`) {
		t.Errorf("/readyz started during the outage = %s, want 200 stale", a)
	}

	stopPoll := s.poll(t, reqs)
	rb.Start()
	kafkatest.Produce(t, addrs, "features-table", vectorRecords(entities, 2)...)
	s.waitRound(t, entities, 2)
	kafkatest.WaitFor(t, time.Minute, func() bool {
		return s.Status().Status == lookup.StatusServing && s.must(t, "/features/e0", "").header.Get(lookup.HeaderLag) == "0"
	})
	ok, failed, first := stopPoll()
	if failed > 0 {
		t.Errorf("%d of %d lookups failed while the broker came back; first: %v", failed, failed+ok, first)
	}
	t.Logf("%d lookups while the broker came back", ok)
}

// poll asks s for reqs, round and round, until the returned stop is called,
// which returns how many were answered 200 and how many not, and the first
// that was not.
func (s *server) poll(t *testing.T, reqs []request) (stop func() (ok, failed int64, first any)) {
	var okN, failedN atomic.Int64
	var firstFailed atomic.Value
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			r := reqs[i%len(reqs)]
			a, err := s.do(t, r.path, r.body)
			if ctx.Err() != nil {
				return
			}
			if err != nil || a.code != 200 {
				failedN.Add(1)
				firstFailed.CompareAndSwap(nil, fmt.Sprintf("%s: %v %v", r.path, a, err))
				continue
			}
			okN.Add(1)
		}
	})
	return func() (int64, int64, any) {
		cancel()
		wg.Wait()
		return okN.Load(), failedN.Load(), firstFailed.Load()
	}
}
