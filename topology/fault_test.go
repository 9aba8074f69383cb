package topology_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// tally is the fault matrix agent's state per key: N counts every call that
// succeeded, duplicates included; Seqs holds each input sequence number
// once, so a lost state update shows as a missing number even when a
// duplicate makes N look right.
type tally struct {
	N    int64   `json:"n"`
	Seqs []int64 `json:"seqs"`
}

var (
	faultIn  = topology.Stream[int64]{Name: "in", Codec: topology.Int64()}
	faultOut = topology.Stream[int64]{Name: "out", Codec: topology.Int64()}
)

// faultGraph is one stateful agent, counter: for each input it updates the
// key's tally and emits the input's sequence number to out.
func faultGraph() *topology.Graph {
	counter := topology.Agent[tally]{
		Name:  "counter",
		State: topology.JSON[tally](),
		Inputs: []topology.Input[tally]{topology.Consume(faultIn,
			func(c *topology.Context[tally], key string, seq int64) error {
				t, _, err := c.State()
				if err != nil {
					return err
				}
				t.N++
				if !slices.Contains(t.Seqs, seq) {
					t.Seqs = append(t.Seqs, seq)
				}
				if err := c.SetState(t); err != nil {
					return err
				}
				return topology.Emit(c, faultOut, key, seq)
			})},
		Outputs: []topology.Topic{faultOut},
	}
	return &topology.Graph{
		Name:       "faults",
		Sources:    []topology.Topic{faultIn},
		Sinks:      []topology.Topic{faultOut},
		Agents:     []topology.AgentDecl{counter},
		Partitions: 4,
	}
}

// faultKeys is how many keys the inputs spread over.
const faultKeys = 10

// inputs writes n records, sequence numbers from..from+n-1, key k<seq%10>,
// and returns the next sequence number.
func inputs(t *testing.T, addrs []string, from int64, n int) int64 {
	t.Helper()
	recs := make([]*kgo.Record, 0, n)
	for seq := from; seq < from+int64(n); seq++ {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", seq%faultKeys), Value: strconv.AppendInt(nil, seq, 10)})
	}
	kafkatest.Produce(t, addrs, faultIn.Name, recs...)
	return from + int64(n)
}

// faultCheck is what checkFaultRun found; only duplicates are allowed.
type faultCheck struct {
	outDups   int // output records beyond one per input
	stateDups int // state counts beyond one per input
}

// checkFaultRun waits until counter has committed all of in, then fails t
// for every input 0..n-1 that is missing from out or from its key's state,
// and returns the duplicates, which at-least-once allows.
func checkFaultRun(t *testing.T, addrs []string, n int64) faultCheck {
	t.Helper()
	waitCommitted(t, addrs, "counter", faultIn.Name, 2*time.Minute)
	var fc faultCheck
	seen := map[int64]int{}
	for _, r := range kafkatest.ConsumeAll(t, addrs, faultOut.Name) {
		seq, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			t.Fatalf("%s: value %q: %v", faultOut.Name, r.Value, err)
		}
		if want := fmt.Sprintf("k%d", seq%faultKeys); string(r.Key) != want {
			t.Errorf("%s: %d under key %s, want %s", faultOut.Name, seq, r.Key, want)
		}
		seen[seq]++
	}
	state := map[string]tally{} // the last changelog record of each key
	codec := topology.JSON[tally]()
	for _, r := range kafkatest.ConsumeAll(t, addrs, topology.TableName("counter")) {
		v, err := codec.Decode(r.Value)
		if err != nil {
			t.Fatalf("changelog value %q: %v", r.Value, err)
		}
		state[string(r.Key)] = v
	}
	perKey := map[string]int64{}
	for seq := range n {
		key := fmt.Sprintf("k%d", seq%faultKeys)
		perKey[key]++
		switch c := seen[seq]; {
		case c == 0:
			t.Errorf("input %d (%s) lost: not in %s", seq, key, faultOut.Name)
		case c > 1:
			fc.outDups += c - 1
		}
		if !slices.Contains(state[key].Seqs, seq) {
			t.Errorf("input %d lost: not in the state of %s", seq, key)
		}
	}
	for key, want := range perKey {
		got := state[key].N
		if got < want {
			t.Errorf("state count of %s = %d, want at least %d, its inputs", key, got, want)
		}
		fc.stateDups += int(got - want)
	}
	return fc
}

// faultCell is one cell of the fault matrix: a request kind and a fault.
type faultCell struct {
	request string
	fault   string
	// early injects before the agent starts: join and sync requests are
	// sent when a member joins.
	early  bool
	inject func(b *broker.Broker) *broker.Fault
}

// stall is longer than sluice's session timeout, so the group's members
// expire during it.
const stall = gokax.DefaultSessionTimeout + time.Second

// faultMatrix returns every cell: for each request kind, a retriable error,
// a non-retriable error, a timeout (after the write was applied, where the
// broker can apply one: produce and offset commit), a dropped connection and
// a stall longer than the session timeout.
func faultMatrix() []faultCell {
	out := broker.ForTopic(faultOut.Name)
	in := broker.ForTopic(faultIn.Name)
	group := broker.ForGroup("counter")
	type kind struct {
		name      string
		key       kmsg.Key
		match     broker.Match
		retriable *kerr.Error
		fatal     *kerr.Error
		early     bool
	}
	var cells []faultCell
	for _, k := range []kind{
		{"produce", kmsg.Produce, out, kerr.NotLeaderForPartition, kerr.InvalidRecord, false},
		{"fetch", kmsg.Fetch, in, kerr.NotLeaderForPartition, kerr.TopicAuthorizationFailed, false},
		{"offset-commit", kmsg.OffsetCommit, group, kerr.NotCoordinator, kerr.GroupAuthorizationFailed, false},
		{"heartbeat", kmsg.Heartbeat, group, kerr.CoordinatorNotAvailable, kerr.GroupAuthorizationFailed, false},
		{"join-group", kmsg.JoinGroup, group, kerr.CoordinatorLoadInProgress, kerr.GroupAuthorizationFailed, true},
		{"sync-group", kmsg.SyncGroup, group, kerr.CoordinatorNotAvailable, kerr.GroupAuthorizationFailed, true},
	} {
		cells = append(cells,
			faultCell{request: k.name, fault: "retriable " + k.retriable.Message, early: k.early,
				inject: func(b *broker.Broker) *broker.Fault { return b.Fail(k.key, k.retriable, 3, k.match) }},
			faultCell{request: k.name, fault: "non-retriable " + k.fatal.Message, early: k.early,
				inject: func(b *broker.Broker) *broker.Fault { return b.Fail(k.key, k.fatal, 1, k.match) }},
			faultCell{request: k.name, fault: "timeout", early: k.early,
				inject: func(b *broker.Broker) *broker.Fault { return b.Fail(k.key, kerr.RequestTimedOut, 2, k.match) }},
			faultCell{request: k.name, fault: "dropped connection", early: k.early,
				inject: func(b *broker.Broker) *broker.Fault { return b.Drop(k.key, 2, k.match) }},
			faultCell{request: k.name, fault: "stall", early: k.early,
				inject: func(b *broker.Broker) *broker.Fault { return b.Stall(k.key, stall, k.match) }},
		)
	}
	return cells
}

// TestFaultMatrix runs a stateful counting agent through every broker fault
// of faultMatrix, one cell at a time on its own broker: 100 inputs before the
// fault, 100 while it is armed and 100 after it hit. No input may be lost,
// from the outputs or from the state, and the agent must recover by itself
// (Run keeps running; its supervisor may restart the processor). Duplicates
// are allowed (at-least-once) and logged per cell. With -short, only the
// produce, offset-commit and heartbeat rows run.
func TestFaultMatrix(t *testing.T) {
	for _, tc := range faultMatrix() {
		t.Run(tc.request+"/"+tc.fault, func(t *testing.T) {
			if testing.Short() && !slices.Contains([]string{"produce", "offset-commit", "heartbeat"}, tc.request) {
				t.Skip("-short runs the produce, offset-commit and heartbeat rows")
			}
			t.Parallel()
			runFaultCell(t, tc)
		})
	}
}

func runFaultCell(t *testing.T, tc faultCell) {
	start := time.Now()
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	g := faultGraph()
	logger, logs := newLogRecorder()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()),
		topology.WithLogger(logger), topology.RestartBackoff(50*time.Millisecond, time.Second)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	const batch = 100
	next := inputs(t, addrs, 0, batch)
	var f *broker.Fault
	if tc.early {
		f = tc.inject(b)
	}
	running(t, g, opts...)
	if !tc.early {
		waitCommitted(t, addrs, "counter", faultIn.Name, time.Minute)
		f = tc.inject(b)
	}
	next = inputs(t, addrs, next, batch)
	waitUntil(t, time.Minute, "the fault to hit a request", func() bool { return f.Hits() > 0 })
	hits := f.Hits()
	f.Remove()
	next = inputs(t, addrs, next, batch) // processed only if the agent recovered
	fc := checkFaultRun(t, addrs, next)
	var restarts []string
	for _, r := range logs.find("agent failed; restarting") {
		restarts = append(restarts, lastLine(attr(r, "error")))
	}
	t.Logf("%d inputs, fault hit %d requests; duplicates: %d outputs, %d state counts; %d restarts %q; %v",
		next, hits, fc.outDups, fc.stateDups, len(restarts), restarts, time.Since(start).Round(time.Millisecond))
}

// TestOversizedOutputIsDeadLettered pins the size check: an output record
// larger than the producer may send (Producer.MaxMessageBytes, kept within
// every topic's max.message.bytes) sends its input record to the dead-letter
// topic with a reason naming the output topic and the size, and the agent
// goes on without a restart. Before the check, sarama or the broker refused
// the write for good, goka's processor stopped, and the supervisor restarted
// it onto the same record forever. A record exactly at the limit must be
// written: the limit is the broker's, not a guess below it. A topic whose
// limit is lowered while the agent runs makes the broker refuse the write
// once; the restarted agent re-reads the limit and dead-letters the record
// instead of failing on it again.
func TestOversizedOutputIsDeadLettered(t *testing.T) {
	const key = "k"
	// over returns a value whose record (key, no headers) is limit+extra bytes
	// as sluice counts it (recordSize): 36 bytes of worst-case record
	// overhead, the key, the value.
	value := func(limit, extra int) string { return strings.Repeat("x", limit+extra-36-len(key)) }
	for _, tc := range []struct {
		name     string
		existing string // max.message.bytes of out, created before Provision; "" lets Provision create it
		lowered  string // max.message.bytes out gets after the first record is processed
		limit    int    // the largest record sluice may send
		over     int    // how many bytes the oversized record has above the limit
		restarts int    // expected
	}{
		{"topic created by sluice", "", "", 1048588 - 61, 1, 0},
		{"existing topic with a smaller max.message.bytes", "4000", "", 4000 - 61, 1, 0},
		// sluice counts a record's overhead at its worst (36 bytes, about 8
		// encoded here): 100 bytes over makes the broker refuse it.
		{"topic limit lowered while the agent runs", "", "4000", 4000 - 61, 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
				addrs := b.Addrs()
				in := topology.Stream[string]{Name: b.Name("in"), Codec: topology.String()}
				out := topology.Stream[string]{Name: b.Name("out"), Codec: topology.String()}
				agent := b.Name("copy")
				a := topology.Agent[struct{}]{
					Name: agent,
					Inputs: []topology.Input[struct{}]{topology.Consume(in,
						func(c *topology.Context[struct{}], key string, v string) error {
							switch v {
							case "fit":
								v = value(tc.limit, 0)
							case "over":
								v = value(tc.limit, tc.over)
							}
							return topology.Emit(c, out, key, v)
						})},
					Outputs: []topology.Topic{out},
				}
				g := &topology.Graph{Name: "copy", Sources: []topology.Topic{in}, Sinks: []topology.Topic{out},
					Agents: []topology.AgentDecl{a}, Partitions: 1}
				if tc.existing != "" {
					kafkatest.CreateTopic(t, addrs, out.Name, 1, map[string]*string{"max.message.bytes": &tc.existing})
				}
				logger, logs := newLogRecorder()
				opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(t.TempDir()), topology.WithLogger(logger)}
				if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
					t.Fatalf("Provision: %v", err)
				}
				kafkatest.Produce(t, addrs, in.Name, &kgo.Record{Key: []byte(key), Value: []byte("a")})
				running(t, g, opts...)
				waitCommitted(t, addrs, agent, in.Name, time.Minute)
				if tc.lowered != "" {
					resp, err := kafkatest.Admin(t, addrs).AlterTopicConfigs(t.Context(),
						[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &tc.lowered}}, out.Name)
					if err == nil {
						_, err = resp.On(out.Name, nil)
					}
					if err != nil {
						t.Fatalf("lower max.message.bytes of %s: %v", out.Name, err)
					}
				}
				var recs []*kgo.Record
				for _, v := range []string{"over", "fit", "b"} {
					recs = append(recs, &kgo.Record{Key: []byte(key), Value: []byte(v)})
				}
				kafkatest.Produce(t, addrs, in.Name, recs...)
				waitCommitted(t, addrs, agent, in.Name, time.Minute)

				var got []int
				for _, r := range kafkatest.ConsumeAll(t, addrs, out.Name) {
					got = append(got, len(r.Value))
				}
				want := []int{1, len(value(tc.limit, 0)), 1}
				if tc.restarts > 0 {
					// The restart replays what followed the refused record: at least once.
					got = slices.Compact(slices.Sorted(slices.Values(got)))
					want = slices.Compact(slices.Sorted(slices.Values(want)))
				}
				if !slices.Equal(got, want) {
					t.Errorf("value sizes in %s = %v, want %v (a, the record at the limit, b)", out.Name, got, want)
				}
				dead := kafkatest.ConsumeAll(t, addrs, topology.DeadLetterName(agent))
				if len(dead) != 1 || string(dead[0].Value) != "over" {
					t.Fatalf("dead letters = %d records, want the input \"over\" alone", len(dead))
				}
				reason, cause := "", ""
				for _, h := range dead[0].Headers {
					switch h.Key {
					case topology.HeaderError:
						reason = string(h.Value)
					case topology.HeaderCause:
						cause = string(h.Value)
					}
				}
				if cause != "size" {
					t.Errorf("dead letter cause %q, want size", cause)
				}
				for _, want := range []string{strconv.Quote(out.Name), strconv.Itoa(tc.limit + tc.over), strconv.Itoa(tc.limit)} {
					if !strings.Contains(reason, want) {
						t.Errorf("dead letter reason %q does not name %s", reason, want)
					}
				}
				if n := len(logs.find("agent failed; restarting")); n != tc.restarts {
					t.Errorf("%d restarts logged, want %d: the oversized record must not fail the agent (again)", n, tc.restarts)
				}
			})
		})
	}
}
