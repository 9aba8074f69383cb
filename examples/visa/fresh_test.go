package main

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
)

// TestRunThenDemoFresh runs the separate-process path as a new user tries it
// first: 'visa run' on a fresh data dir (its embedded broker, every level),
// then 'visa demo', with no 'visa routes' in between. run seeds the empty
// routing table with the default routes and says so in one line, so every
// application of a type with a default route follows it, and only a type
// without one (work) ends at A as needs_review; a second run on the same
// data dir leaves the table as it is and says nothing.
func TestRunThenDemoFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	dir := filepath.Join(t.TempDir(), "fresh")
	seeded := regexp.MustCompile(`the routing table visa-routes was empty: wrote the default routes`)
	run := start(t, "run", "run", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http", "")
	addr := run.waitLine(regexp.MustCompile(` addr=(\S+)`), 60*time.Second)[1]
	run.waitLine(seeded, 60*time.Second)
	run.waitAssigned("level-a", 60*time.Second, func(p []int32) bool { return len(p) == 4 })

	const n = 200
	args := []string{"demo", "--brokers", addr, "--count", strconv.Itoa(n), "--rate", "0", "--seed", "5", "--prefix", "F",
		"--mix", "tourist=40,business=30,student=20,work=10", "--invalid", "10", "--malformed", "0"}
	if code := start(t, "demo", args...).Wait(60 * time.Second); code != 0 {
		t.Fatalf("demo exited %d, want 0", code)
	}
	mix, _ := visa.ParseMix("tourist=40,business=30,student=20,work=10")
	gen, err := visa.NewGenerator(visa.GeneratorConfig{Mix: mix, Invalid: 10, Seed: 5, Prefix: "F"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]visa.Item{}
	for range n {
		it := gen.Next()
		want[it.ID] = it
	}
	got := consumeFinals(t, addr, want, 120*time.Second)
	routed := 0
	for id, it := range want {
		d := got[id]
		wantDecision, wantLevels := oracle(it.App)
		if d.Decision != wantDecision || !slices.Equal(levelsOf(d.Path), wantLevels) {
			t.Errorf("%s (%s, defect %q): %s via %v, want %s via %v", id, it.App.VisaType, it.Defect, d.Decision, levelsOf(d.Path), wantDecision, wantLevels)
		}
		if len(d.Path) > 1 {
			routed++
		}
	}
	if routed == 0 {
		t.Errorf("no application went past level A: the routing table was not seeded")
	}
	run.Signal(syscall.SIGTERM)
	if code := run.Wait(30 * time.Second); code != 0 {
		t.Fatalf("run exited %d after SIGTERM, want 0", code)
	}

	again := start(t, "run again", "run", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http", "")
	again.waitAssigned("level-a", 60*time.Second, func(p []int32) bool { return len(p) == 4 })
	if slices.ContainsFunc(again.log.lines(), seeded.MatchString) {
		t.Errorf("a second run seeded the routing table again:\n%s", again.log.String())
	}
	again.Signal(syscall.SIGTERM)
	if code := again.Wait(30 * time.Second); code != 0 {
		t.Errorf("second run exited %d after SIGTERM, want 0", code)
	}
}
