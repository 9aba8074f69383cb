package visa_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// The helpers in this file run the pipeline on the embedded broker.

// setUp starts a broker, creates the topics of g on it and writes routes to the
// routing table before any level starts, so that level A finds them when it
// first looks. It returns the broker's addresses.
func setUp(t *testing.T, g *topology.Graph, routes []visa.Route) []string {
	t.Helper()
	return setUpOn(t, kafkatest.OnEmbedded(t), g, routes)
}

// setUpOn is setUp on b. The pipeline's names are production's, so one test
// of the package at most may run it on the shared Apache Kafka cluster.
func setUpOn(t *testing.T, b *kafkatest.Broker, g *topology.Graph, routes []visa.Route) []string {
	t.Helper()
	addrs := b.Addrs()
	if _, err := topology.Provision(t.Context(), g, topology.Brokers(addrs...)); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := visa.WriteRoutes(t.Context(), routes, topology.Brokers(addrs...)); err != nil {
		t.Fatalf("write routes: %v", err)
	}
	return addrs
}

// running runs g on addrs with its tables in dir until stop is called or the
// test ends; stop waits for Run and fails the test if it returned an error.
func running(t *testing.T, g *topology.Graph, addrs []string, dir string, opts ...topology.Option) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts = append([]topology.Option{topology.Brokers(addrs...), topology.DataDir(dir),
		topology.RestartBackoff(100*time.Millisecond, time.Second)}, opts...)
	go func() {
		done <- topology.Run(ctx, g, opts...)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil after cancel", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return within 60 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// produce sends count records of gen, as fast as the producer takes them, and
// returns them by ID.
func produce(t *testing.T, addrs []string, gen *visa.Generator, count int) map[string]visa.Item {
	t.Helper()
	items := map[string]visa.Item{}
	if err := visa.Produce(t.Context(), gen, count, 0, func(it visa.Item) { items[it.ID] = it }, topology.Brokers(addrs...)); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return items
}

// sendApp sends one application.
func sendApp(t *testing.T, addrs []string, app visa.Application) {
	t.Helper()
	em, err := topology.NewEmitter(visa.Applications, topology.Brokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	if err := em.Write(t.Context(), app.ApplicationID, app); err != nil {
		t.Fatalf("send %s: %v", app.ApplicationID, err)
	}
}

// tail reads topics from their start in the background, until the test ends,
// keeping every record by topic and key. It reads committed records only, as a
// downstream consumer of an exactly-once pipeline must (records of other
// producers are visible at once).
type tail struct {
	adm    *kadm.Client
	addrs  []string
	topics []string
	mu     struct {
		sync.Mutex
		byKey map[string]map[string][]*kgo.Record // topic -> key -> records
		next  map[string]map[int32]int64          // topic -> partition -> next offset
		err   error
	}
}

func newTail(t *testing.T, addrs []string, topics ...string) *tail {
	t.Helper()
	tl := &tail{adm: kafkatest.Admin(t, addrs), addrs: addrs, topics: topics}
	tl.mu.byKey = map[string]map[string][]*kgo.Record{}
	tl.mu.next = map[string]map[int32]int64{}
	for _, tp := range topics {
		tl.mu.byKey[tp] = map[string][]*kgo.Record{}
		tl.mu.next[tp] = map[int32]int64{}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			tl.mu.Lock()
			if err := fs.Err0(); err != nil && tl.mu.err == nil {
				tl.mu.err = err
			}
			fs.EachRecord(func(r *kgo.Record) {
				tl.mu.next[r.Topic][r.Partition] = r.Offset + 1
				if r.Attrs.IsControl() {
					return // a transaction's marker: kept only to know how far the tail has read
				}
				tl.mu.byKey[r.Topic][string(r.Key)] = append(tl.mu.byKey[r.Topic][string(r.Key)], r)
			})
			tl.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return tl
}

// wait waits until every key of keys has a record on topic, logging how many
// have one every 30 s. It fails the test once stall passes with no key getting
// its first record: a pipeline that is slow (the race detector on a busy
// machine) passes, one that stopped does not.
func (tl *tail) wait(t *testing.T, stall time.Duration, topic string, keys []string) {
	t.Helper()
	begin := time.Now()
	nextLog, lastMove, left := begin.Add(30*time.Second), begin, len(keys)
	for {
		missing := tl.missing(topic, keys)
		now := time.Now()
		switch {
		case len(missing) == 0:
			return
		case len(missing) < left:
			lastMove, left = now, len(missing)
		case now.Sub(lastMove) > stall:
			logPipeline(t, tl.adm, tl.addrs)
			t.Fatalf("%s: %d of %d keys have no record, and none got one in the last %v, such as %v",
				topic, len(missing), len(keys), stall, missing[:min(10, len(missing))])
		}
		if now.After(nextLog) {
			nextLog = now.Add(30 * time.Second)
			t.Logf("%s: %d of %d keys have a record after %v", topic, len(keys)-len(missing), len(keys), now.Sub(begin).Round(time.Second))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// missing returns the keys of keys that have no record on topic.
func (tl *tail) missing(topic string, keys []string) []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for _, k := range keys {
		if len(tl.mu.byKey[topic][k]) == 0 {
			out = append(out, k)
		}
	}
	return out
}

// drain waits until the tail has read every topic to its current end: after the
// writers stopped, it then holds everything they wrote.
func (tl *tail) drain(t *testing.T) {
	t.Helper()
	ends, err := tl.adm.ListEndOffsets(t.Context(), tl.topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	kafkatest.WaitFor(t, 30*time.Second, func() bool {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		if tl.mu.err != nil {
			t.Fatalf("tail: %v", tl.mu.err)
		}
		reached := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && tl.mu.next[o.Topic][o.Partition] < o.Offset {
				reached = false
			}
		})
		return reached
	})
}

// records returns the records of key on topic.
func (tl *tail) records(topic, key string) []*kgo.Record {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.mu.byKey[topic][key]
}

// keys returns the number of keys and records on topic.
func (tl *tail) count(topic string) (keys, records int) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, rs := range tl.mu.byKey[topic] {
		keys++
		records += len(rs)
	}
	return keys, records
}

// finals decodes the final decisions of id.
func (tl *tail) finals(t *testing.T, id string) []visa.FinalDecision {
	t.Helper()
	var out []visa.FinalDecision
	for _, r := range tl.records(visa.Final.Name, id) {
		var d visa.FinalDecision
		if err := json.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("final decision of %s: %v", id, err)
		}
		out = append(out, d)
	}
	return out
}

// kgoHeader is a record header.
type kgoHeader = kgo.RecordHeader

// waitUntil waits up to a minute for cond.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	kafkatest.WaitFor(t, time.Minute, cond)
}
