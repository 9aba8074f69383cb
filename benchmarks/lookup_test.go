package benchmarks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/benchmarks/internal/lookupbench"
	"github.com/sluicehq/sluice/lookup"
	"github.com/sluicehq/sluice/topology"
)

// lookupEntities is the size of BenchmarkFeatureLookup's feature table.
const lookupEntities = 100_000

// lookupService is the lookup service of a feature table (the serve command
// of lookupsvc, a sluice binary) on an embedded broker, each in a process of
// its own, the broker one the benchmark can stop; and beside them the floor
// (lookupfloor), a plain net/http server answering the same bodies from a Go
// map in a process of its own too.
type lookupService struct {
	broker     *brokerProcess
	svc, floor *serverProcess
}

var (
	servingURL   = regexp.MustCompile(`msg="serving lookups.* http=(\S+)`)
	listeningURL = regexp.MustCompile(`^listening on (\S+)$`)
)

// startLookupService writes entities feature vectors to the table of
// lookupbench's graph, as the feature store would, starts the lookup
// service and the floor, and returns once the service's copy holds them all
// and both answer entity 0 with the same body. Everything stops when tb
// ends.
func startLookupService(tb testing.TB, entities int) *lookupService {
	tb.Helper()
	rb := startBrokerProcess(tb)
	g, err := lookupbench.Graph()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := topology.Provision(tb.Context(), g, topology.Brokers(rb.Addrs()...)); err != nil {
		tb.Fatal(err)
	}
	produceAt(tb, rb.Addrs(), lookupbench.Table, entities, lookupbench.Timestamp(), func(i int) ([]byte, []byte) {
		return []byte(lookupbench.Entity(i)), lookupbench.Vector(i)
	})
	s := &lookupService{broker: rb}
	s.svc = startServer(tb, "lookup service", servingURL, program(tb, "./lookupsvc"), "serve",
		"--tables", lookupbench.Table, "--brokers", rb.addr, "--data-dir", tb.TempDir(), "--http", "127.0.0.1:0")
	s.floor = startServer(tb, "floor", listeningURL, program(tb, "./lookupfloor"), "-entities", strconv.Itoa(entities))
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st := s.status(tb)
		if st.Status == lookup.StatusServing && st.Tables[0].Lag != nil && *st.Tables[0].Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the lookup service did not read %d vectors within 5 minutes: %+v", entities, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := lookupbench.Answer(0)
	for _, p := range []*serverProcess{s.svc, s.floor} {
		if got := httpGet(tb, p.url+"features/"+lookupbench.Entity(0)); !bytes.Equal(got, want) {
			tb.Fatalf("%s answers entity 0 with %s, want %s", p.name, got, want)
		}
	}
	return s
}

// status returns the lookup service's GET /tables.
func (s *lookupService) status(tb testing.TB) lookup.Status {
	tb.Helper()
	s.svc.alive(tb)
	var st lookup.Status
	if err := json.Unmarshal(httpGet(tb, s.svc.url+"tables"), &st); err != nil || len(st.Tables) != 1 {
		tb.Fatalf("GET /tables: %+v, %v", st, err)
	}
	return st
}

// httpGet returns the body of a GET of url that answered 200.
func httpGet(tb testing.TB, url string) []byte {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s %s %v", url, resp.Status, b, err)
	}
	return b
}

// stopBroker stops the broker and waits until the service has noticed: its
// view has not heard from the broker for a second.
func (s *lookupService) stopBroker(tb testing.TB) {
	tb.Helper()
	s.broker.Stop()
	for {
		if age := s.status(tb).Tables[0].AgeSeconds; age != nil && *age > 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loadResult is the load generator's output (see loadgen.Result).
type loadResult struct {
	Sent   int            `json:"sent"`
	OK     int            `json:"ok"`
	Status map[string]int `json:"status"`
	Errors int            `json:"errors"`
	First  string         `json:"first_error"`
	Rate   float64        `json:"rate"`
	P50    float64        `json:"p50_us"`
	P90    float64        `json:"p90_us"`
	P99    float64        `json:"p99_us"`
	P999   float64        `json:"p999_us"`
	Max    float64        `json:"max_us"`
	Late   float64        `json:"late_p99_us"`
}

// answered returns the percentage of requests answered 200.
func (r loadResult) answered() float64 { return 100 * float64(r.OK) / float64(max(r.Sent, 1)) }

// runLoadgen runs the load generator against p with args, and returns its
// result and p's CPU time per request meanwhile.
func runLoadgen(tb testing.TB, p *serverProcess, args ...string) (loadResult, time.Duration) {
	tb.Helper()
	cmd := exec.Command(program(tb, "./loadgen"), append([]string{"-url", p.url}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cpu := p.cpu(tb)
	if err := cmd.Run(); err != nil {
		tb.Fatalf("loadgen %v: %v\n%s", args, err, errOut.String())
	}
	cpu = p.cpu(tb) - cpu
	p.alive(tb)
	var r loadResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		tb.Fatalf("loadgen output %q: %v", out.String(), err)
	}
	return r, cpu / time.Duration(max(r.Sent, 1))
}

// reportLoad reports r's figures on b.
func reportLoad(b *testing.B, r loadResult, cpu time.Duration) {
	b.ReportMetric(r.Rate, "requests/s")
	b.ReportMetric(r.P50, "p50-µs")
	b.ReportMetric(r.P99, "p99-µs")
	b.ReportMetric(r.P999, "p99.9-µs")
	b.ReportMetric(r.Max, "max-µs")
	b.ReportMetric(r.answered(), "%answered")
	b.ReportMetric(r.Late, "gen-late-p99-µs")
	b.ReportMetric(float64(cpu.Microseconds()), "server-cpu-µs/req")
	b.ReportMetric(0, "ns/op")
	if r.OK != r.Sent {
		b.Errorf("%d of %d requests answered 200: other statuses %v, %d errors (first: %s)", r.OK, r.Sent, r.Status, r.Errors, r.First)
	}
}

// wrkScripts are wrk Lua scripts: a GET of a random entity, and a POST of a
// batch of 100 random entities.
var wrkScripts = map[string]string{
	"single": `math.randomseed(1)
request = function()
  return wrk.format("GET", "/features/e" .. math.random(0, %d))
end
`,
	"batch100": `math.randomseed(1)
request = function()
  local ids = {}
  for i = 1, 100 do ids[i] = '"e' .. math.random(0, %d) .. '"' end
  return wrk.format("POST", "/features", {["Content-Type"] = "application/json"}, '{"entities":[' .. table.concat(ids, ",") .. ']}')
end
`,
}

// wrkResult is what wrk --latency prints: requests/s and latency
// percentiles, measured closed loop (each connection sends its next request
// when the last is answered), and the answers that were not 2xx.
type wrkResult struct {
	rate          float64
	p50, p90, p99 float64 // µs
	non2xx        int
	errors        string
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: .*`)
)

// runWrk runs wrk with the script named form against p for d, with 2
// threads and conns connections.
func runWrk(tb testing.TB, p *serverProcess, form string, entities, conns int, d time.Duration) (wrkResult, time.Duration) {
	tb.Helper()
	bin, err := exec.LookPath("wrk")
	if err != nil {
		tb.Fatal("wrk not found: install it (apt-get install wrk; make bench does)")
	}
	script := filepath.Join(tb.TempDir(), form+".lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScripts[form], entities-1), 0o644); err != nil {
		tb.Fatal(err)
	}
	cpu := p.cpu(tb)
	// wrk's default 2 s timeout counts a slow answer as a socket error; on
	// a loaded machine a batch can take longer, and is still answered.
	out, err := exec.Command(bin, "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--timeout", "30s", "--latency", "-s", script, p.url).CombinedOutput()
	cpu = p.cpu(tb) - cpu
	p.alive(tb)
	if err != nil {
		tb.Fatalf("wrk: %v\n%s", err, out)
	}
	var r wrkResult
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		tb.Fatalf("wrk printed no Requests/sec:\n%s", out)
	}
	r.rate, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, p := range wrkPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(p[2]), 64)
		v *= map[string]float64{"us": 1, "ms": 1e3, "s": 1e6}[string(p[3])]
		switch string(p[1]) {
		case "50":
			r.p50 = v
		case "90":
			r.p90 = v
		case "99":
			r.p99 = v
		}
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	r.errors = string(wrkSockErr.Find(out))
	requests := r.rate * d.Seconds()
	return r, time.Duration(float64(cpu) / max(requests, 1))
}

// reportWrk reports r's figures on b; batch is the entities per request.
func reportWrk(b *testing.B, r wrkResult, cpu time.Duration, batch int) {
	b.ReportMetric(r.rate, "requests/s")
	if batch > 1 {
		b.ReportMetric(r.rate*float64(batch), "entities/s")
	}
	b.ReportMetric(r.p50, "p50-µs")
	b.ReportMetric(r.p99, "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds()), "server-cpu-µs/req")
	b.ReportMetric(0, "ns/op")
	if r.non2xx > 0 || r.errors != "" {
		b.Errorf("wrk: %d answers not 2xx; %s", r.non2xx, r.errors)
	}
}

// BenchmarkFeatureLookup measures the lookup service of a feature table of
// 100,000 entities (four features each, 4 partitions) over HTTP on loopback:
// the serve command of a sluice binary (lookupsvc) with its defaults, in a
// process of its own, the load coming from another process. server-cpu is
// the service process's CPU time per request, its idle work included, and
// server-peak-rss its peak resident memory since it started:
//
//   - load=wrk: wrk --latency, 2 threads and 32 connections for 10 s, closed
//     loop: throughput, and its percentiles (which hide a stall's queue).
//   - load=5000rps: the open-loop load generator (./loadgen) at 5,000
//     requests/s for 10 s after a 1 s warm-up, latency from each request's
//     scheduled time: the p99 target.
//   - broker=down: the same while the embedded broker is stopped; every
//     request must be answered 200 from the service's copy.
//   - impl=floor: a plain net/http server answering the same bodies from a
//     Go map (lookupfloor), in a process of its own, under the same load in
//     the same run: what HTTP on loopback costs on this machine, the floor
//     of any lookup service.
//
// form=single is GET /features/{entity}; form=batch100 is POST /features
// with 100 entities.
//
//	make bench BENCH=FeatureLookup          # wrk installed if missing
//	go test -run '^$' -bench FeatureLookup -benchtime 1x ./benchmarks/
func BenchmarkFeatureLookup(b *testing.B) {
	s := startLookupService(b, lookupEntities)
	if avg, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average at the start: %s", strings.TrimSpace(string(avg)))
	}
	const d = 10 * time.Second
	n := strconv.Itoa(lookupEntities)
	rate := func(b *testing.B, p *serverProcess, batch, rps string) {
		for b.Loop() {
			r, cpu := runLoadgen(b, p, "-rate", rps, "-duration", d.String(), "-entities", n, "-batch", batch)
			reportLoad(b, r, cpu)
			b.ReportMetric(p.peakRSS(), "server-peak-rss-MB")
		}
	}
	closed := func(b *testing.B, p *serverProcess, form string, batch int) {
		for b.Loop() {
			r, cpu := runWrk(b, p, form, lookupEntities, 32, d)
			reportWrk(b, r, cpu, batch)
			b.ReportMetric(p.peakRSS(), "server-peak-rss-MB")
		}
	}
	b.Run("form=single/load=wrk", func(b *testing.B) { closed(b, s.svc, "single", 1) })
	b.Run("form=single/load=wrk/impl=floor", func(b *testing.B) { closed(b, s.floor, "single", 1) })
	b.Run("form=batch100/load=wrk", func(b *testing.B) { closed(b, s.svc, "batch100", 100) })
	b.Run("form=single/load=5000rps", func(b *testing.B) { rate(b, s.svc, "0", "5000") })
	b.Run("form=single/load=5000rps/impl=floor", func(b *testing.B) { rate(b, s.floor, "0", "5000") })
	b.Run("form=batch100/load=200rps", func(b *testing.B) { rate(b, s.svc, "100", "200") })

	s.stopBroker(b)
	b.Run("form=single/load=5000rps/broker=down", func(b *testing.B) { rate(b, s.svc, "0", "5000") })
	b.Run("form=single/load=wrk/broker=down", func(b *testing.B) { closed(b, s.svc, "single", 1) })
	s.broker.Start(b)
}

// shortLookup runs the lookup workload small for TestBenchmarksShort: 1,000
// entities, the load generator at 200 requests/s for a second, single and
// batch, with the broker up and down; every request must be answered 200.
func shortLookup(t *testing.T) {
	const entities = 1000
	s := startLookupService(t, entities)
	load := func(what string, args ...string) {
		t.Helper()
		r, _ := runLoadgen(t, s.svc, append([]string{"-rate", "200", "-duration", "1s", "-warmup", "0s", "-entities", strconv.Itoa(entities)}, args...)...)
		if r.OK != r.Sent || r.Sent != 200 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
			t.Fatalf("%s: %+v: want 200 requests answered 200 with ordered percentiles", what, r)
		}
		t.Logf("%s: p50 %.0f µs, p99 %.0f µs (generator late p99 %.0f µs)", what, r.P50, r.P99, r.Late)
	}
	load("single")
	load("batch", "-batch", "10")
	s.stopBroker(t)
	load("single, broker down")
	s.broker.Start(t)
}
