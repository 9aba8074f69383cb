package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// flatFor is how long TestLongRunStaysFlat bounces the broker; 0 means
// three bounces, as make test's non-race pass runs it. make flat sets it.
var flatFor = flag.Duration("flat-duration", 0, "how long TestLongRunStaysFlat bounces the broker (0: three bounces)")

// Bounds of TestLongRunStaysFlat's growth, from the first bounce's settled
// sample to the last, of goroutines and of open fds outside the data dir: a
// leak of one goroutine (or connection) per client and restart grows by
// tens per bounce.
const (
	flatGoroutines = 30
	flatFDs        = 8
)

// How far apart three samples in a row may be for a pipeline to count as
// settled after a bounce: a third of the bounds above, twice the noise seen
// at rest (short-lived goroutines of requests and fetches in flight). With
// two goroutines and one fd, a settle often ran into its three minutes' cap
// (the test took 8.5 minutes in one make test; 3.3 with these bounds and
// caught-up judged by age, see poll).
const (
	settleGoroutines = 10
	settleFDs        = 3
)

// TestLongRunStaysFlat runs the visa pipeline as a long-lived binary does
// (visa all with its live page, against a cluster) under a steady stream of
// applications, bounces the broker three times (for as
// long as -flat-duration says with make flat): every agent's processor fails
// and is restarted, views and the live page reconnect. Meanwhile it polls
// the live page's lag, stats and a lookup, and samples the process's
// goroutines (from its /metrics) and open file descriptors every two
// seconds. Once the pipeline has settled after each bounce, both must stay
// within a small bound of where they were after the first bounce (when
// every client has been rebuilt once): a broker connection that outlived
// its client, left behind by restarts, grows both (goleak found such
// connections of sarama's clients, before franz-go replaced them, in test
// processes; this checks a process that runs for good).
func TestLongRunStaysFlat(t *testing.T) {
	if binary == "" {
		t.Skip("-short builds no binary")
	}
	if *flatFor == 0 {
		proctest.NonRacePass(t, "four minutes of a race-detecting binary would take make test past its 25 minutes on 2 cores; "+
			"it runs at the speed a deployed binary runs (and for longer with make flat)")
	}
	bounces := 3
	length := *flatFor
	// every is the least time between bounces. The samples compared are
	// taken at least reaped after their bounce: franz-go closes a
	// connection idle for its ConnIdleTimeout (30 s) on a tick of the same
	// length, and the clients rebuilt at a bounce leave about ten idle
	// sockets that close 45-51 s after it. A sample taken before that,
	// compared with one taken after, read as 11 sockets of growth.
	const outage, every, reaped = 2 * time.Second, 20 * time.Second, 65 * time.Second
	// caughtUpAge: two seconds behind (a poll's period), and the commit
	// interval by which committed offsets trail what was processed.
	const caughtUpAge = 2*time.Second + topology.DefaultCommitInterval
	dir := t.TempDir()
	b, err := broker.Start(broker.DataDir(dir + "/broker"))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	addr := b.Addrs()[0]
	t.Cleanup(func() {
		if b != nil {
			b.Close()
		}
	})
	rate := 50
	if proctest.Race() {
		rate = 25 // the race detector's pipeline is slower; the subject here is flatness, not speed
	}
	p := start(t, "visa all", "all", "--brokers", addr, "--http", "127.0.0.1:0", "--data-dir", dir+"/visa",
		"--count", strconv.Itoa(rate*int((max(length, 5*time.Minute)+5*time.Minute)/time.Second)), "--rate", strconv.Itoa(rate),
		"--seed", "4", "--prefix", "F", "--log-level", "info", "--wait", "10m")
	m := p.waitLine(regexp.MustCompile(`http=(http://[^ ]+/)`), 2*time.Minute)
	page := m[1]
	p.waitLine(regexp.MustCompile(`\| decided [1-9]`), 2*time.Minute)

	type sample struct {
		at         time.Duration
		goroutines int
		fds        fds
		event      string
	}
	var samples []sample
	begin := time.Now()
	take := func(event string) sample {
		t.Helper()
		s := sample{at: time.Since(begin).Round(time.Second), goroutines: goroutines(t, page), fds: openFDs(t, p.Pid(), dir), event: event}
		samples = append(samples, s)
		t.Logf("%6v  goroutines %4d  open fds %4d: %3d sockets, %3d in the data dir, %2d other  %s",
			s.at, s.goroutines, s.fds.total(), s.fds.sockets, s.fds.data, s.fds.other, s.event)
		return s
	}
	// committed is each agent's highest committed offsets seen, moved when
	// an agent with lag last committed more: a pipeline behind a steady
	// input on a slow (loaded, race-detecting) machine moves, a stalled one
	// does not.
	committed, moved := map[string]int64{}, map[string]time.Time{}
	stalled := func() []string {
		var names []string
		for name, at := range moved {
			if time.Since(at) > time.Minute {
				names = append(names, name)
			}
		}
		return names
	}
	// poll asks the live page for lag, stats and a lookup, as a user watching
	// it does, samples, and waits two seconds. It reports whether the page
	// saw the broker and every agent caught up: its oldest unprocessed record
	// younger than caughtUpAge. (Not a record count: the desk reads about
	// three records per application, and its committed offsets trail by the
	// commit interval's worth, 140-180 records at 50 applications/s; a
	// count of one second's applications read as a desk that never caught
	// up, and each settle ran into its cap.)
	poll := func(event string) (sample, bool) {
		t.Helper()
		var stats struct {
			State  string
			Agents map[string]struct {
				Lag, Committed int64
				AgeMillis      int64 `json:"age_ms"`
			}
		}
		for _, path := range []string{"api/lag", "api/stats", "api/lookup?table=" + lookupTable + "&key=F-000001"} {
			resp, err := http.Get(page + path)
			if err != nil {
				continue
			}
			if path == "api/stats" {
				json.NewDecoder(resp.Body).Decode(&stats)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		caughtUp := stats.State == "ok" && len(stats.Agents) > 0
		var behind []string // why it has not caught up, in the sample's line
		if !caughtUp {
			behind = append(behind, "page state "+strconv.Quote(stats.State))
		}
		for _, name := range slices.Sorted(maps.Keys(stats.Agents)) {
			a := stats.Agents[name]
			if age := time.Duration(a.AgeMillis) * time.Millisecond; a.AgeMillis < 0 || age >= caughtUpAge {
				caughtUp = false
				behind = append(behind, fmt.Sprintf("%s lag %d (%v)", name, a.Lag, age))
			}
			if _, ok := moved[name]; a.Lag == 0 {
				delete(moved, name)
			} else if !ok || a.Committed > committed[name] {
				moved[name] = time.Now()
			}
			committed[name] = max(committed[name], a.Committed)
		}
		if len(behind) > 0 {
			event = strings.TrimSpace(event + " behind: " + strings.Join(behind, ", "))
		}
		s := take(event)
		time.Sleep(2 * time.Second)
		return s, caughtUp
	}
	// settle polls for at least minAge, and until every agent has caught up
	// and the last three samples are within settleGoroutines and settleFDs
	// of each other (a restarted pipeline has rebuilt its clients), for at
	// most three minutes; it returns the least of each figure over the
	// last three samples, which the noise of short-lived goroutines and
	// connections (HTTP requests, fetches in flight: 371-378 goroutines
	// from one poll to the next on a pipeline at rest) does not raise.
	settle := func(minAge time.Duration) sample {
		t.Helper()
		start := time.Now()
		for {
			s, caughtUp := poll("")
			n := len(samples)
			if time.Since(start) < minAge || n < 3 || !caughtUp {
				if names := stalled(); len(names) > 0 {
					t.Fatalf("agents %q have lag and committed nothing for a minute: the pipeline stalled after the bounce", names)
				}
				if time.Since(start) > 3*time.Minute {
					// Behind the input but moving: the machine is slower than
					// the rate (seen at load 10 under -race, 35 applications/s
					// decided against 50 sent).
					t.Logf("the pipeline is still behind three minutes after the bounce, and moving; going on")
					return s
				}
				continue
			}
			var gs, fs []int
			least := s
			for _, x := range samples[n-3:] {
				gs, fs = append(gs, x.goroutines), append(fs, x.fds.sockets+x.fds.other)
				least.goroutines = min(least.goroutines, x.goroutines)
				least.fds = fds{min(least.fds.sockets, x.fds.sockets), min(least.fds.data, x.fds.data), min(least.fds.other, x.fds.other)}
			}
			if slices.Max(gs)-slices.Min(gs) <= settleGoroutines && slices.Max(fs)-slices.Min(fs) <= settleFDs {
				return least
			}
			if time.Since(start) > 3*time.Minute {
				t.Logf("goroutines and fds still moving three minutes after the bounce; going on")
				return least
			}
		}
	}
	settled := []sample{settle(every)} // the settled sample before each bounce, and after the last
	for i := 1; ; i++ {
		if err := b.Close(); err != nil {
			t.Fatalf("close broker: %v", err)
		}
		b = nil
		take(fmt.Sprintf("broker stopped (bounce %d)", i))
		time.Sleep(outage)
		if b, err = broker.Start(broker.DataDir(dir+"/broker"), broker.Listen(addr)); err != nil {
			t.Fatalf("restart broker on %s: %v", addr, err)
		}
		take("broker started")
		last := i >= bounces && time.Since(begin)+every >= length
		minAge := every
		if i == 1 || last {
			minAge = reaped // the two samples compared
		}
		settled = append(settled, settle(minAge))
		if last {
			break
		}
	}

	p.Signal(syscall.SIGINT)
	if code := p.Wait(time.Minute); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0", code)
	}
	first, last := settled[1], settled[len(settled)-1]
	t.Logf("after bounce 1: %d goroutines, %d sockets, %d other fds; after bounce %d: %d, %d, %d (and %d files in the data dir, %d after bounce 1)",
		first.goroutines, first.fds.sockets, first.fds.other, len(settled)-1, last.goroutines, last.fds.sockets, last.fds.other, last.fds.data, first.fds.data)
	if last.goroutines > first.goroutines+flatGoroutines {
		t.Errorf("goroutines grew from %d to %d over %d broker bounces, want at most %d more", first.goroutines, last.goroutines, len(settled)-2, flatGoroutines)
	}
	if grown := last.fds.sockets + last.fds.other - first.fds.sockets - first.fds.other; grown > flatFDs {
		t.Errorf("open fds outside the data dir grew by %d (sockets %d to %d, other %d to %d) over %d broker bounces, want at most %d more",
			grown, first.fds.sockets, last.fds.sockets, first.fds.other, last.fds.other, len(settled)-2, flatFDs)
	}
}

// fds are a process's open file descriptors: sockets, files in its data
// dir (Pebble's tables and logs, whose number follows the data: a restarted
// store's first flush adds a table), and the rest.
type fds struct{ sockets, data, other int }

func (f fds) total() int { return f.sockets + f.data + f.other }

// openFDs classifies the open file descriptors of process pid (Linux).
func openFDs(t *testing.T, pid int, dataDir string) fds {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("open fds of the process: %v", err)
	}
	var f fds
	for _, e := range ents {
		target, err := os.Readlink(dir + "/" + e.Name())
		switch {
		case err != nil: // closed meanwhile
		case strings.HasPrefix(target, "socket:"):
			f.sockets++
		case strings.HasPrefix(target, dataDir):
			f.data++
		default:
			f.other++
		}
	}
	return f
}

// lookupTable is a table of the visa pipeline that the live page looks keys
// up in.
var lookupTable = visa.MemoryTable("A").Name

var goroutinesRE = regexp.MustCompile(`(?m)^go_goroutines ([0-9.e+]+)$`)

// goroutines reads the process's goroutines from the live page's /metrics.
func goroutines(t *testing.T, page string) int {
	t.Helper()
	resp, err := http.Get(page + "metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	m := goroutinesRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics has no go_goroutines")
	}
	n, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("/metrics: go_goroutines %q: %v", m[1], err)
	}
	return int(n)
}
