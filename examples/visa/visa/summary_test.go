package visa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
	"github.com/sluicehq/sluice/topology/topologytest"
)

// TestTally pins what the summary counts: each application sent once with one
// outcome, duplicates apart, other runs' records ignored, and latencies per
// level from the path.
func TestTally(t *testing.T) {
	tally := visa.NewTally()
	g := &topology.Graph{
		Name:    "watch",
		Sources: []topology.Topic{visa.Final, visa.DeadLetters("A")},
		Agents:  []topology.AgentDecl{tally.Watcher("A")},
	}
	h := topologytest.New(t, g)
	ms := func(n int) time.Time { return submitted.Add(time.Duration(n) * time.Millisecond) }
	final := func(id, decision string, steps ...int) visa.FinalDecision {
		d := visa.FinalDecision{ApplicationID: id, VisaType: "student", Decision: decision, SubmittedAt: submitted}
		for i, at := range steps {
			d.Path = append(d.Path, visa.Step{Level: string(rune('A' + i)), Time: ms(at)})
			d.DecidedAt = ms(at)
		}
		return d
	}
	tally.Sent(visa.Item{ID: "a1", App: visa.Application{VisaType: "student"}})
	tally.Sent(visa.Item{ID: "a2", App: visa.Application{VisaType: "student"}})
	tally.Sent(visa.Item{ID: "bad", Raw: []byte("{")})
	topologytest.Consume(h, visa.Final, "a1", final("a1", visa.Approved, 10, 30))
	topologytest.Consume(h, visa.Final, "a1", final("a1", visa.Approved, 10, 30)) // a duplicate
	topologytest.Consume(h, visa.Final, "zz", final("zz", visa.Approved, 1))      // not this run's
	if p := tally.Progress(); p.Done || p.Decided != 1 || p.Duplicates != 1 {
		t.Fatalf("progress = %+v, want 1 decided, 1 duplicate, not done", p)
	}
	topologytest.Consume(h, visa.Final, "a2", final("a2", visa.Rejected, 20))
	topologytest.ConsumeRaw(h, visa.DeadLetters("A").Name, "bad", []byte("{"))
	if p := tally.Progress(); p.Done {
		t.Fatalf("progress = %+v: done before Seal", p)
	}
	tally.Seal()
	p := tally.Progress()
	if !p.Done || p.Sent != 3 || p.DeadLettered != 1 || p.ByDecision[visa.Approved] != 1 || p.ByDecision[visa.Rejected] != 1 {
		t.Fatalf("progress = %+v, want done: 3 sent, 1 approved, 1 rejected, 1 dead letter", p)
	}
	if got, want := p.String(), "sent 3 | decided 2: approved 1, rejected 1 | dead letters 1 | in flight 0 | duplicates 1"; got != want {
		t.Errorf("progress line = %q, want %q", got, want)
	}

	s := tally.Summary()
	if s.Missing != 0 || s.ByType["student"][visa.Approved] != 1 || s.ByType["(malformed)"]["dead-lettered"] != 1 {
		t.Errorf("summary counts = %+v", s)
	}
	if a := s.Levels["A"]; a.N != 2 || a.P50 != 10*time.Millisecond || a.Max != 20*time.Millisecond {
		t.Errorf("level A latency = %+v, want 2 samples, p50 10ms, max 20ms", a)
	}
	if b := s.Levels["B"]; b.N != 1 || b.P99 != 20*time.Millisecond {
		t.Errorf("level B latency = %+v, want 1 sample of 20ms", b)
	}
	if e := s.EndToEnd; e.N != 2 || e.P50 != 20*time.Millisecond || e.P99 != 30*time.Millisecond {
		t.Errorf("end-to-end latency = %+v, want p50 20ms, p99 30ms", e)
	}
	var b strings.Builder
	s.WriteTo(&b)
	if strings.Contains(b.String(), "lag") {
		t.Errorf("summary without lag figures prints a lag:\n%s", b.String())
	}
	s.Lag = map[string]int64{"B": 7, "A": 0}
	b.Reset()
	s.WriteTo(&b)
	for _, want := range []string{"3 applications sent, 2 decided, 1 dead-lettered, 0 missing, 1 duplicates", "level-a-dlq 1", "end to end",
		"lag (records not yet committed per level): A 0, B 7\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
