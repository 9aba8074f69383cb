package visa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// stricterFunds is the rules with level B asking three times the funds a day:
// the "new agent version" a replay evaluates.
type stricterFunds struct{}

func (stricterFunds) Decide(ctx context.Context, level string, app visa.Application) (visa.Finding, error) {
	if level == "B" {
		p, ok := visa.Policies[app.VisaType]
		if !ok {
			p = visa.DefaultPolicy
		}
		if need := 3 * p.DailyFunds * app.StayDays; app.Funds < need {
			return visa.Finding{Decision: visa.Rejected, Reasons: []string{fmt.Sprintf("funds of %d EUR are below the stricter %d EUR", app.Funds, need)}, Confidence: 1}, nil
		}
	}
	return visa.Rules{}.Decide(ctx, level, app)
}

// auditRecord returns app as a record of the input topic with timestamp ts.
func auditRecord(t *testing.T, app visa.Application, ts time.Time) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(app.ApplicationID), Value: b, Timestamp: ts}
}

// endOffsets returns the end offset of every partition of topics.
func endOffsets(t *testing.T, adm *kadm.Client, topics []string) map[string]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(t.Context(), topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.Offset })
	return out
}

// productionCommitted reports whether every level's group has committed up to the
// end offset of each partition of its input that has records.
func productionCommitted(got, ends map[string]int64) bool {
	for _, l := range visa.Levels {
		for tp, end := range ends {
			if end > 0 && strings.HasPrefix(tp, l.Input+"/") && got[l.Agent()+":"+tp] < end {
				return false
			}
		}
	}
	return true
}

// committed returns the committed offsets of the consumer groups.
func committed(t *testing.T, adm *kadm.Client, groups []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, g := range groups {
		os, err := adm.FetchOffsets(t.Context(), g)
		if err != nil {
			t.Fatalf("fetch offsets of %s: %v", g, err)
		}
		os.Each(func(o kadm.OffsetResponse) {
			out[fmt.Sprintf("%s:%s/%d", g, o.Topic, o.Partition)] = o.At
		})
	}
	return out
}

// TestAuditOnBroker runs the pipeline on the embedded broker and pins trace and
// replay on what it wrote:
//   - the trace of a business application is its input record, then the queued
//     document of levels A, B and C, then D's final decision, in that order, each
//     with its topic, partition and offset; a malformed record's trace ends in
//     level A's dead-letter topic;
//   - a replay of a time window with a stricter funds rule at level B re-decides
//     exactly the applications of the window in shadow topics and groups, reports
//     those it decides differently, and leaves every production topic's end
//     offsets and every production group's committed offsets as they were.
func TestAuditOnBroker(t *testing.T) {
	g, err := visa.Graph(nil)
	if err != nil {
		t.Fatal(err)
	}
	addrs := setUp(t, g, visa.DefaultRoutes)
	stop := running(t, g, addrs, t.TempDir())
	defer stop()

	// Records of a window two hours ago, and one before it and one after it.
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	poor := valid("biz-poor", "business")
	poor.Funds = poor.StayDays * visa.Policies["business"].DailyFunds * 11 / 10 // passes with a note
	recs := []*kgo.Record{
		auditRecord(t, valid("old-1", "business"), base.Add(-time.Hour)),
		auditRecord(t, valid("biz-1", "business"), base),
		auditRecord(t, valid("stu-1", "student"), base.Add(time.Second)),
		auditRecord(t, valid("tour-1", "tourist"), base.Add(2*time.Second)),
		auditRecord(t, poor, base.Add(3*time.Second)),
		{Key: []byte("bad-json"), Value: []byte(`{"application_id": "bad-json", `), Timestamp: base.Add(4 * time.Second)},
		auditRecord(t, valid("late-1", "student"), base.Add(time.Hour)),
	}
	kafkatest.Produce(t, addrs, visa.Applications.Name, recs...)
	decided := []string{"old-1", "biz-1", "stu-1", "tour-1", "biz-poor", "late-1"}

	// Wait for production to finish them, through Trace itself.
	ctx := t.Context()
	kafkatest.WaitFor(t, time.Minute, func() bool {
		for _, id := range append(decided, "bad-json") {
			evs, err := visa.Trace(ctx, []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, id)
			if err != nil {
				t.Fatalf("Trace(%s) = %v", id, err)
			}
			if len(evs) == 0 || (evs[len(evs)-1].Kind != visa.EventFinal && evs[len(evs)-1].Kind != visa.EventDeadLetter) {
				return false
			}
		}
		return true
	})

	t.Run("trace", func(t *testing.T) {
		evs, err := visa.Trace(ctx, []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, "biz-1")
		if err != nil {
			t.Fatal(err)
		}
		type row struct{ kind, topic, level, next, decision string }
		want := []row{
			{visa.EventReceived, "visa-applications-in", "", "A", ""},
			{visa.EventQueued, "scrutiny-queue-B", "A", "B", visa.Pass},
			{visa.EventQueued, "scrutiny-queue-C", "B", "C", visa.Pass},
			{visa.EventQueued, "scrutiny-queue-D", "C", "D", visa.Pass},
			{visa.EventFinal, "final-decisions-out", "D", "", visa.Approved},
		}
		var got []row
		for _, e := range evs {
			got = append(got, row{e.Kind, e.Topic, e.Level, e.Next, e.Decision})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trace of biz-1:\n got %v\nwant %v", got, want)
		}
		part := topology.Partition("biz-1", 4)
		for i, e := range evs {
			if e.Partition != part || e.Err != "" || e.Time.IsZero() || (i > 0 && e.Time.Before(evs[i-1].Time)) {
				t.Errorf("event %d = %+v: want partition %d, a time in order, no error", i, e, part)
			}
		}
		if !evs[0].Time.Equal(base) {
			t.Errorf("received at %v, want the record's timestamp %v", evs[0].Time, base)
		}

		var out bytes.Buffer
		if err := visa.WriteTrace(&out, "biz-1", evs); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		t.Logf("visa trace biz-1:\n%s", text)
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) != 7 || !strings.HasPrefix(lines[0], "TIME") || lines[6] != "outcome: approved at level D" {
			t.Fatalf("trace output has lines %q: want a header, 5 records and the outcome", lines)
		}
		for i, w := range []string{"-> A", "A -> B", "B -> C", "C -> D", "D "} {
			if !strings.Contains(lines[i+1], want[i].topic) || !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d = %q, want topic %s and %q", i+1, lines[i+1], want[i].topic, w)
			}
		}

		evs, err = visa.Trace(ctx, []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, "bad-json")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Kind != visa.EventReceived || evs[0].Err == "" ||
			evs[1].Kind != visa.EventDeadLetter || evs[1].Level != "A" || evs[1].Topic != "level-a-dlq" || len(evs[1].Reasons) != 1 || evs[1].Reasons[0] == "" {
			t.Errorf("trace of bad-json = %+v, want the unreadable input then level A's dead letter with its error", evs)
		}

		if evs, err := visa.Trace(ctx, []topology.Option{topology.Brokers(addrs...)}, visa.Names{}, "nobody"); err != nil || len(evs) != 0 {
			t.Errorf("trace of an unknown ID = %+v, %v; want nothing", evs, err)
		}
	})

	t.Run("replay", func(t *testing.T) {
		adm := kafkatest.Admin(t, addrs)
		all, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		prodTopics := all.Names() // everything there is before the replay is production's
		var groups []string
		for _, l := range visa.Levels {
			groups = append(groups, l.Agent())
		}
		endsBefore := endOffsets(t, adm, prodTopics)
		// Production commits its offsets asynchronously (once a second, as
		// Consumer.Offsets.AutoCommit.Interval says):
		// wait until each level has committed up to the end of its input, or a late
		// production commit would look like a change made by the replay.
		deadline := time.Now().Add(30 * time.Second)
		for !productionCommitted(committed(t, adm, groups), endsBefore) {
			if time.Now().After(deadline) {
				t.Fatalf("production did not commit to the end of its inputs within 30 s: %v", committed(t, adm, groups))
			}
			time.Sleep(100 * time.Millisecond) // polling the broker's offsets, not waiting for a result
		}
		offsetsBefore := committed(t, adm, groups)
		if len(offsetsBefore) == 0 {
			t.Fatal("production groups have no committed offsets")
		}

		res, err := visa.Replay(ctx, visa.ReplayConfig{
			Brokers: addrs,
			From:    base,
			To:      base.Add(time.Minute),
			Suffix:  "-shadow1",
			Decider: stricterFunds{},
			Wait:    time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := res.WriteDiff(&out); err != nil {
			t.Fatal(err)
		}
		t.Logf("visa replay:\n%s", out.String())

		if res.Replayed != 5 || len(res.Missing) != 0 {
			t.Errorf("replayed %d records, %d missing; want the 5 of the window, none missing", res.Replayed, len(res.Missing))
		}
		got := map[string]string{}
		for _, c := range res.Comparisons {
			got[c.ID] = c.Production.Decision + " -> " + c.Shadow.Decision
		}
		want := map[string]string{
			"biz-1":    "approved -> rejected",
			"stu-1":    "approved -> rejected",
			"biz-poor": "approved -> rejected",
			"tour-1":   "approved -> approved",
			"bad-json": "dead-lettered -> dead-lettered",
		}
		if !maps.Equal(got, want) {
			t.Errorf("comparisons %v, want %v", got, want)
		}
		text := out.String()
		for _, w := range []string{
			`replayed 5 records of visa-applications-in`,
			"5 applications: 2 decided alike, 3 differently",
			"biz-1 (business): approved -> rejected",
			"shadow:     rejected at B: B: funds of 6000 EUR are below the stricter 9000 EUR",
			"biz-poor (business): approved -> rejected",
			"stu-1 (student): approved -> rejected",
		} {
			if !strings.Contains(text, w) {
				t.Errorf("diff does not say %q", w)
			}
		}
		if strings.Contains(text, "tour-1") {
			t.Errorf("diff lists tour-1, which both runs approved")
		}

		// Production is untouched.
		if after := endOffsets(t, adm, prodTopics); !maps.Equal(after, endsBefore) {
			t.Errorf("production end offsets changed:\nbefore %v\n after %v", endsBefore, after)
		}
		if after := committed(t, adm, groups); !maps.Equal(after, offsetsBefore) {
			t.Errorf("production committed offsets changed:\nbefore %v\n after %v", offsetsBefore, after)
		}
		// The shadow run left its trail in its own topics: trace reads them too.
		evs, err := visa.Trace(ctx, []topology.Option{topology.Brokers(addrs...)}, visa.Names{Suffix: "-shadow1"}, "biz-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[1].Topic != "scrutiny-queue-B-shadow1" || evs[2].Topic != "final-decisions-out-shadow1" || evs[2].Decision != visa.Rejected {
			t.Errorf("shadow trace of biz-1 = %+v, want received, queued for B, rejected", evs)
		}

		if _, err := visa.Replay(ctx, visa.ReplayConfig{Brokers: addrs, From: base, To: base.Add(time.Minute)}); err == nil || !strings.Contains(err.Error(), "empty shadow suffix") {
			t.Errorf("Replay without a suffix = %v, want an error", err)
		}
	})
}
