package topology_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// logRecorder is a slog.Handler that keeps every record, with the attributes
// of the logger's With, for tests that assert what Run logged.
type logRecorder struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

func newLogRecorder() (*slog.Logger, logRecorder) {
	h := logRecorder{mu: new(sync.Mutex), recs: new([]slog.Record)}
	return slog.New(h), h
}

func (h logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r)
	return nil
}

func (h logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], as...)
	return h
}

// WithGroup is ignored: sluice logs no groups.
func (h logRecorder) WithGroup(string) slog.Handler { return h }

// find returns the records whose message is msg.
func (h logRecorder) find(msg string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range *h.recs {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

// logWarnings logs, if t failed, what Run logged at warning level and
// above: restarts and their errors explain most failures of a count.
func logWarnings(t *testing.T, h logRecorder) {
	if !t.Failed() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.recs {
		if r.Level >= slog.LevelWarn {
			var b strings.Builder
			r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
			t.Logf("%s %s%s", r.Level, r.Message, b.String())
		}
	}
}

// attr returns the value of r's attribute key as text, "" if it has none.
func attr(r slog.Record, key string) string {
	v := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// restartableBroker is an embedded broker persisted in a directory of the test,
// which the test may stop and start again on the same directory and port.
type restartableBroker struct {
	t    *testing.T
	dir  string
	addr string
	b    *broker.Broker // nil while stopped
}

// startRestartable starts a broker on a free port; it is closed in t.Cleanup.
func startRestartable(t *testing.T) *restartableBroker {
	t.Helper()
	rb := &restartableBroker{t: t, dir: t.TempDir()}
	b, err := broker.Start(broker.DataDir(rb.dir))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	rb.b, rb.addr = b, b.Addrs()[0]
	t.Cleanup(func() {
		if rb.b != nil {
			if err := rb.b.Close(); err != nil {
				t.Errorf("close broker: %v", err)
			}
		}
	})
	return rb
}

func (rb *restartableBroker) addrs() []string { return []string{rb.addr} }

// stop closes the broker: clients see connections refused until start.
func (rb *restartableBroker) stop() {
	rb.t.Helper()
	if err := rb.b.Close(); err != nil {
		rb.t.Fatalf("close broker: %v", err)
	}
	rb.b = nil
}

// start starts the broker again on the same data dir and port.
func (rb *restartableBroker) start() {
	rb.t.Helper()
	b, err := broker.Start(broker.DataDir(rb.dir), broker.Listen(rb.addr))
	if err != nil {
		rb.t.Fatalf("restart broker on %s: %v", rb.addr, err)
	}
	rb.b = b
}

// waitCommitted waits until group has committed the end offset of every
// partition of topic: every record written so far is processed.
func waitCommitted(t *testing.T, addrs []string, group, topic string, timeout time.Duration) {
	t.Helper()
	adm := kafkatest.Admin(t, addrs)
	var last string
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		behind, err := lagOf(ctx, adm, group, topic)
		if err == nil && behind == 0 {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = strconv.FormatInt(behind, 10) + " records behind"
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s did not commit the end of %s within %v: %s", group, topic, timeout, last)
		case <-tick.C:
		}
	}
}

// lagOf returns how many records of topic group has not committed.
func lagOf(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return 0, err
	}
	var behind int64
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(topic, o.Partition); ok {
			at = c.At
		}
		behind += max(o.Offset-at, 0)
	})
	return behind, nil
}

// maxValues reads topic, whose values are counts, to its current end and
// returns each key's highest count: its final count, as counts only grow.
func maxValues(t *testing.T, addrs []string, topic string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range kafkatest.ConsumeAll(t, addrs, topic) {
		n, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			t.Fatalf("%s: value %q: %v", topic, r.Value, err)
		}
		out[string(r.Key)] = max(out[string(r.Key)], n)
	}
	return out
}

// steadyProducer writes a steady stream to a topic: one record per tick, keys
// user-0 to user-(keys-1) in turn, each key's values its sequence 0, 1, 2 ...
// Its client retries without limit, so a broker outage delays records rather
// than failing them.
type steadyProducer struct {
	t      *testing.T
	cl     *kgo.Client
	stopc  chan struct{}
	done   chan struct{}
	bursts chan int
	total  atomic.Int64 // acknowledged

	mu     sync.Mutex
	acked  map[string]int64
	failed []error
}

func produceSteadily(t *testing.T, addrs []string, topic string, keys int, every time.Duration) *steadyProducer {
	t.Helper()
	p := &steadyProducer{
		t:      t,
		cl:     kafkatest.Client(t, addrs, kgo.DefaultProduceTopic(topic)),
		stopc:  make(chan struct{}),
		done:   make(chan struct{}),
		acked:  map[string]int64{},
		bursts: make(chan int),
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		seq := make([]int64, keys)
		i := 0
		produce := func() {
			k := i % keys
			i++
			key := fmt.Sprintf("user-%d", k)
			r := &kgo.Record{Key: []byte(key), Value: strconv.AppendInt(nil, seq[k], 10)}
			seq[k]++
			p.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.failed = append(p.failed, err)
					return
				}
				p.acked[key]++
				p.total.Add(1)
			})
		}
		for {
			select {
			case <-p.stopc:
				return
			case n := <-p.bursts:
				for range n {
					produce()
				}
			case <-tick.C:
				produce()
			}
		}
	}()
	return p
}

// burst produces n records at once, on top of the steady stream.
func (p *steadyProducer) burst(n int) { p.bursts <- n }

// stop stops producing, waits until every record is acknowledged, and returns
// the number of records per key. It fails t if any record failed.
func (p *steadyProducer) stop() map[string]int64 {
	p.t.Helper()
	close(p.stopc)
	<-p.done
	ctx, cancel := context.WithTimeout(p.t.Context(), time.Minute)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		p.t.Fatalf("flush the producer: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failed) > 0 {
		p.t.Fatalf("%d records failed to produce, first: %v", len(p.failed), p.failed[0])
	}
	return p.acked
}

// waitUntil calls cond every 10 ms until it returns true, and fails t naming
// what it waited for if that takes longer than timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waited %v for %s", timeout, what)
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		case <-tick.C:
		}
	}
}

// pause lets d pass, the length of a fault the test injects.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-time.After(d):
	case <-t.Context().Done():
		t.Fatalf("test ended during a %v pause", d)
	}
}
