package window_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/processors/window"
	"github.com/sluicehq/sluice/topology"
)

// TestRestartRebuildsStateFromChangelog runs a hopping, a sliding and a
// session aggregation on the embedded broker with Pebble tables, stops them, deletes
// their local state, and runs them again on more records: the second run
// rebuilds every key's windows, events and stream time from the changelogs and
// continues exactly where the first stopped. Every result and late record of
// both runs equals the brute-force model's, per key, in order.
func TestRestartRebuildsStateFromChangelog(t *testing.T) {
	keys, perBatch := 16, 300
	if testing.Short() {
		keys, perBatch = 6, 100
	}
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	dir := t.TempDir()

	type agg struct {
		c      window.Config[txn]
		model  *model
		follow *follower
	}
	var aggs []*agg
	g := &topology.Graph{Name: "restart", Sources: []topology.Topic{txns}, Partitions: 3}
	for _, c := range []window.Config[txn]{
		config(window.Hopping, 40, 10, 15, window.Sum),
		config(window.Sliding, 30, 0, 10, window.Max),
		session(20, 10, window.Sum),
	} {
		name := c.Kind.String()
		c.Name = name
		c.Output = topology.Stream[window.Result]{Name: name + "-results", Codec: results.Codec}
		c.Late = topology.Stream[window.LateRecord[txn]]{Name: name + "-late", Codec: lates.Codec}
		c.EmitFinal = true
		a, err := window.New(c)
		if err != nil {
			t.Fatal(err)
		}
		g.Agents = append(g.Agents, a)
		g.Sinks = append(g.Sinks, c.Output, c.Late)
		aggs = append(aggs, &agg{c: c, model: newModel(c), follow: follow(t, addrs, c.Output.Name, c.Late.Name)})
	}
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	recs := stream(rng, "user", 2*perBatch, keys, 40, 15)
	// Timestamps near now: the broker deletes records older than the topic's
	// retention by their timestamps, and would delete 1970's before the agents
	// read them.
	now := time.Now().UnixMilli()
	for i := range recs {
		recs[i].t += now
	}
	want := make([]map[string][]out, len(aggs)) // per agent, per key
	for i, a := range aggs {
		want[i] = map[string][]out{}
		for _, r := range recs {
			want[i][r.key] = append(want[i][r.key], a.model.consume(r)...)
		}
	}
	// expect returns how many records the agent emits for the first n inputs.
	expect := func(i, n int) int {
		m := newModel(aggs[i].c)
		total := 0
		for _, r := range recs[:n] {
			total += len(m.consume(r))
		}
		return total
	}

	for run, batch := range [][]in{recs[:perBatch], recs[perBatch:]} {
		if run == 1 {
			if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
				t.Fatal(err)
			}
		}
		produce(t, addrs, batch)
		stop := running(t, g, opts...)
		for i, a := range aggs {
			a.follow.wait(t, expect(i, perBatch*(run+1)))
		}
		stop()
	}
	for i, a := range aggs {
		got := a.follow.byKey()
		for key, w := range want[i] {
			if w = split(w); !slices.Equal(split(got[key]), w) {
				t.Errorf("%s, key %s: %d records, want %d; first difference:\n%s", a.c.Name, key, len(got[key]), len(w), firstDiff(split(got[key]), w))
			}
		}
		if len(got) != len(want[i]) {
			t.Errorf("%s: output for %d keys, want %d", a.c.Name, len(got), len(want[i]))
		}
		if a.model.late == 0 || a.model.emitted == 0 {
			t.Errorf("%s: the stream had %d late records and %d results: the test exercised too little", a.c.Name, a.model.late, a.model.emitted)
		}
	}
}

func firstDiff(got, want []out) string {
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("at %d: got  %s\n        want %s", i, at(got, i), at(want, i))
}

// produce writes the records to txns with their timestamps, in order.
func produce(t *testing.T, addrs []string, recs []in) {
	t.Helper()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		v, err := txns.Codec.Encode(txn{Amount: r.v})
		if err != nil {
			t.Fatal(err)
		}
		krs[i] = &kgo.Record{Key: []byte(r.key), Value: v, Timestamp: time.UnixMilli(r.t)}
	}
	kafkatest.Produce(t, addrs, txns.Name, krs...)
}

// running runs g until stop is called or the test ends; stop fails the test if
// Run returned an error.
func running(t *testing.T, g *topology.Graph, opts ...topology.Option) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- topology.Run(ctx, g, opts...) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// follower reads an agent's result and late topics from the start.
type follower struct {
	cl   *kgo.Client
	late string
	outs []keyed
}

type keyed struct {
	key string
	o   out
}

func follow(t *testing.T, addrs []string, output, late string) *follower {
	return &follower{
		cl: kafkatest.Client(t, addrs, kgo.ConsumeTopics(output, late),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond)),
		late: late,
	}
}

// wait reads until it has n records in all, and fails the test if they do not
// come within a minute or more come.
func (f *follower) wait(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for len(f.outs) < n {
		fs := f.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d records, want %d: %v", len(f.outs), n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			key := string(r.Key)
			if r.Topic == f.late {
				var l window.LateRecord[txn]
				if err := json.Unmarshal(r.Value, &l); err != nil {
					t.Fatalf("late record %q: %v", r.Value, err)
				}
				f.outs = append(f.outs, keyed{key, lateOut(key, l.Time.UnixMilli(), l.Value.Amount, l.StreamTime.UnixMilli())})
				return
			}
			var res window.Result
			if err := json.Unmarshal(r.Value, &res); err != nil {
				t.Fatalf("result %q: %v", r.Value, err)
			}
			f.outs = append(f.outs, keyed{key, resultOut(key, res)})
		})
	}
	if len(f.outs) > n {
		t.Fatalf("got %d records, want %d", len(f.outs), n)
	}
}

// byKey returns the records read so far per key: results and late records
// are in two topics, each in order per key, but not in order with each other.
func (f *follower) byKey() map[string][]out {
	return byKey(f.outs)
}

func byKey(outs []keyed) map[string][]out {
	m := map[string][]out{}
	for _, k := range outs {
		m[k.key] = append(m[k.key], k.o)
	}
	return m
}

// split returns outs in topic order: the results, then the late records.
func split(outs []out) []out {
	var res, late []out
	for _, o := range outs {
		if o.late {
			late = append(late, o)
		} else {
			res = append(res, o)
		}
	}
	return append(res, late...)
}

// TestIdleClosesOnBroker runs a session aggregation with Idle on the
// embedded broker: a key's three clicks make one session, and with no record
// after them its final result still comes, by the wall clock, no sooner than
// the gap plus Idle after the agent handled the last click, with the clicks'
// count.
func TestIdleClosesOnBroker(t *testing.T) {
	addrs := kafkatest.Start(t).Addrs()
	c := session(1000, 0, window.Count)
	c.EmitFinal, c.Idle = true, 300*time.Millisecond
	g, _ := graph(t, c)
	running(t, g, topology.Brokers(addrs...), topology.DataDir(t.TempDir()))
	f := follow(t, addrs, results.Name, lates.Name)
	now := time.Now().UnixMilli()
	produce(t, addrs, []in{{"a", now, 1}, {"a", now + 200, 1}, {"a", now + 400, 1}})
	f.wait(t, 4) // three updates, then the final result by the wall clock
	final := f.outs[3].o
	if !final.final || final.count != 3 || final.start != now || final.end != now+401 {
		t.Fatalf("fourth record %s, want the final result of the session [%d, %d) with 3 clicks", final, now, now+401)
	}
	if final.now < now+400+1000 {
		t.Errorf("final result at stream time %d, before the session's end plus gap %d", final.now, now+400+1000)
	}
	// The clicks were written at wall time now (the last stamped 400 ms
	// ahead); the agent handled the last no sooner, and its stream time (the
	// last click's) plus the gap is reached by the wall clock, Idle behind,
	// no sooner than gap plus Idle later.
	if waited := time.Now().UnixMilli() - now; waited < 1000+300 {
		t.Errorf("final result %d ms after the clicks were written, before the gap plus Idle (1300 ms)", waited)
	}
}
