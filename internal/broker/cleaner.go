package broker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kfake's log cleaner compacts every batch of a partition but its last,
// records of open transactions included: a record of an open transaction
// supersedes the committed records of its key, and when that transaction
// aborts (its producer crashed) the committed value is gone
// (TestCompactStopsAtOpenTransaction). Kafka cleans only below a partition's
// last stable offset. kfake cannot clean a partition up to an offset only, so
// the broker runs kfake's cleaner itself, and only at a moment when no
// partition of a compacted topic holds a record of an open transaction (its
// last stable offset is its high watermark); kfake's own ticker is off
// (cleanerOff).
//
// The check and the compaction must see the same state, so both run inside
// a kfake control function (window): while one runs, kfake's loop serves
// admin calls (TopicInfo, PartitionInfos, Compact) and no client request, so
// no transaction writes in between. The cleaner makes kfake run it with a
// ListTransactions request whose state filter is a nonce (trigger).
//
// On a busy exactly-once broker some transaction is nearly always open on
// some changelog partition, so the cleaner makes such a moment when the
// first check fails: it drains (drain.go) for at most drainMax, and checks
// again every drainPoll.

// cleanerConfig is kfake's broker config of its cleaner's interval.
const cleanerConfig = "log.cleaner.backoff.ms"

// cleanerOff is the log.cleaner.backoff.ms kfake runs with: about 35 years,
// so that its own ticker never fires (kfake multiplies it by a millisecond
// into a time.Duration, which this does not overflow).
const cleanerOff = 1 << 40

// drainMax bounds a drain: the pause a transactional producer held during it
// sees (and, on a client that sends all its requests on one connection, as
// sarama does, the requests it sends behind the held one: heartbeats too,
// well within any session timeout).
const drainMax = 500 * time.Millisecond

// drainPoll is how often a drain checks whether the compacted partitions are
// stable.
const drainPoll = 5 * time.Millisecond

// cleanTimeout bounds each request the cleaner (and the authenticator's setup)
// sends on loopback.
const cleanTimeout = 5 * time.Second

// noncePrefix starts the state filter of the cleaner's trigger requests.
const noncePrefix = "sluice.broker.cleaner/"

// partition names a partition.
type partition struct {
	topic string
	p     int32
}

func (p partition) String() string { return fmt.Sprintf("%s/%d", p.topic, p.p) }

// check is a request for a window: whether the compacted partitions of
// topics are stable and, if they are, compact.
type check struct {
	nonce  string
	gen    uint64 // topicGen when topics were listed
	topics []string
	force  bool         // compact even if no compacted partition grew (Broker.Compact)
	res    chan checked // buffered: the window never blocks on it
}

// checked is what a window found.
type checked struct {
	stale     bool                // a topic may have been created since topics were listed
	compacted bool                // every compacted partition was stable and kfake compacted
	tables    map[string][16]byte // the compacted topics, by name: their IDs
	unstable  []partition         // compacted partitions holding records of open transactions
}

// cleaner is the broker's log cleaner; see above.
type cleaner struct {
	c        *kfake.Cluster
	cl       *kgo.Client
	log      *slog.Logger
	drain    *drain
	drainMax time.Duration

	run      sync.Mutex    // one clean at a time: the loop's and Broker.Compact's
	topicGen atomic.Uint64 // bumped before kfake handles a CreateTopics
	nonces   atomic.Uint64
	pending  atomic.Pointer[check]

	// mu guards closing. A window runs kfake admin calls, which block
	// forever once kfake closed: close waits for the windows that entered.
	mu      sync.Mutex
	closing bool
	windows sync.WaitGroup

	// hwms are the high watermarks of the compacted partitions at the last
	// compaction, and compactedAt its time: only the window touches them.
	hwms        map[tablePartition]int64
	compactedAt time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// tablePartition names a partition of a compacted topic by the topic's ID,
// so that a topic deleted and created again under its name is another.
type tablePartition struct {
	id [16]byte
	p  int32
}

// cleanIdleMax is how long the periodic cleaner leaves compacted topics
// that took no record since their last compaction: kfake's compaction
// reads every batch of every compacted partition, so a broker holding a
// large table spent a burst of CPU every CleanerInterval rewriting what
// had not changed (a lookup service's p99 beside it rose with each burst).
// Tombstones older than delete.retention.ms still go within this bound.
const cleanIdleMax = 10 * time.Minute

// startCleaner starts the cleaner of c at addr, with a client made with opts,
// cleaning every interval.
func startCleaner(c *kfake.Cluster, addr string, interval time.Duration, log *slog.Logger, opts []kgo.Opt) (*cleaner, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cn := &cleaner{c: c, cl: cl, log: log, drain: newDrain(c), drainMax: drainMax, cancel: cancel, done: make(chan struct{})}
	c.ControlKey(int16(kmsg.CreateTopics), func(kmsg.Request) (kmsg.Response, error, bool) {
		cn.topicGen.Add(1)
		return nil, nil, false // kfake handles it as usual
	})
	c.ControlKey(int16(kmsg.ListTransactions), cn.control)
	// kfake would start its own cleaner on a broker config altered to a
	// usable log.cleaner.backoff.ms (or, by AlterConfigs, to none: 1 h);
	// the interval is CleanerInterval.
	c.Fault(kfake.Fault{
		Keys:  []kmsg.Key{kmsg.AlterConfigs, kmsg.IncrementalAlterConfigs},
		Err:   kerr.InvalidConfig,
		Count: -1,
		When:  altersCleaner,
	})
	go cn.loop(ctx, interval)
	return cn, nil
}

func (cn *cleaner) loop(ctx context.Context, interval time.Duration) {
	defer close(cn.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := cn.clean(ctx, false); err != nil && ctx.Err() == nil {
				cn.log.Warn("broker: log cleaner failed", "error", err)
			}
		}
	}
}

// now cleans once (Broker.Compact) and reports whether it compacted.
func (cn *cleaner) now() bool {
	ok, err := cn.clean(context.Background(), true)
	if err != nil {
		cn.log.Warn("broker: log cleaner failed", "error", err)
	}
	return ok
}

// close stops the cleaner. It must be called before kfake is closed.
func (cn *cleaner) close() {
	cn.cancel()
	<-cn.done
	cn.mu.Lock()
	cn.closing = true
	cn.mu.Unlock()
	cn.windows.Wait()
	cn.cl.Close()
}

// clean compacts every compacted topic once none of its partitions holds a
// record of an open transaction, draining for at most drainMax if one does,
// and applies retention. It reports whether it compacted.
func (cn *cleaner) clean(ctx context.Context, force bool) (bool, error) {
	cn.run.Lock()
	defer cn.run.Unlock()
	res, err := cn.check(ctx, force)
	if err != nil || res.compacted {
		return res.compacted, err
	}
	start := time.Now()
	if err := cn.drain.begin(ctx, cn.cl, res.tables); err != nil {
		cn.drain.end()
		return false, err
	}
	for !res.compacted && time.Since(start) < cn.drainMax && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(drainPoll):
			if res, err = cn.check(ctx, force); err == nil {
				cn.drain.tables(res.tables)
			}
		}
	}
	held := cn.drain.end()
	if err != nil {
		return false, err
	}
	if res.compacted {
		cn.log.Debug("broker: compacted after draining transactions", "drain", time.Since(start), "held", held)
		return true, nil
	}
	cn.c.ApplyRetention()
	cn.log.Debug("broker: compaction deferred: transactions stayed open", "drain", time.Since(start), "held", held, "unstable", res.unstable)
	return false, nil
}

// check lists the topics and has a window check them, until no topic was
// created in between.
func (cn *cleaner) check(ctx context.Context, force bool) (checked, error) {
	for {
		gen := cn.topicGen.Load()
		topics, err := cn.topics(ctx)
		if err != nil {
			return checked{}, err
		}
		res, err := cn.trigger(ctx, gen, topics, force)
		if err != nil || !res.stale {
			return res, err
		}
	}
}

// topics lists the broker's topics.
func (cn *cleaner) topics(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, cleanTimeout)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cn.cl)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	topics := make([]string, 0, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic != nil {
			topics = append(topics, *t.Topic)
		}
	}
	return topics, nil
}

// trigger has kfake run a window on topics and returns what it found.
func (cn *cleaner) trigger(ctx context.Context, gen uint64, topics []string, force bool) (checked, error) {
	ch := &check{
		nonce: fmt.Sprintf("%s%d", noncePrefix, cn.nonces.Add(1)),
		gen:   gen, topics: topics, force: force, res: make(chan checked, 1),
	}
	cn.pending.Store(ch)
	defer cn.pending.CompareAndSwap(ch, nil)
	ctx, cancel := context.WithTimeout(ctx, cleanTimeout)
	defer cancel()
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = []string{ch.nonce}
	// Sent to node 0, the only one: kgo would shard it to every broker.
	if _, err := cn.cl.Broker(0).RetriableRequest(ctx, req); err != nil {
		return checked{}, fmt.Errorf("check partitions: %w", err)
	}
	select {
	case res := <-ch.res:
		return res, nil
	default:
		return checked{}, fmt.Errorf("check partitions: %s not run", ch.nonce)
	}
}

// control is the control function of ListTransactions: it runs the window
// of the cleaner's trigger, and lets kfake answer any other request.
func (cn *cleaner) control(req kmsg.Request) (kmsg.Response, error, bool) {
	cn.c.KeepControl()
	r := req.(*kmsg.ListTransactionsRequest)
	if len(r.StateFilters) != 1 || !strings.HasPrefix(r.StateFilters[0], noncePrefix) {
		return nil, nil, false
	}
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	ch := cn.pending.Load()
	if ch == nil || ch.nonce != r.StateFilters[0] || !cn.enter() {
		return resp, nil, true // a trigger that timed out, or the broker is closing
	}
	defer cn.windows.Done()
	select {
	case ch.res <- cn.window(ch):
	default: // a retried trigger ran the window already
	}
	return resp, nil, true
}

// enter reports whether a window may run, and if so counts it.
func (cn *cleaner) enter() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closing {
		return false
	}
	cn.windows.Add(1)
	return true
}

// window runs inside kfake's loop while it serves no client request: it
// finds the partitions of compacted topics holding records of open
// transactions and, if there are none, compacts. Unless forced, it leaves
// compacted partitions that took no record since the last compaction (for
// up to cleanIdleMax), applying retention only.
func (cn *cleaner) window(ch *check) checked {
	if cn.topicGen.Load() != ch.gen {
		return checked{stale: true}
	}
	res := checked{tables: map[string][16]byte{}}
	hwms := map[tablePartition]int64{}
	for _, t := range ch.topics {
		info := cn.c.TopicInfo(t)
		if info == nil || !compacts(info.Configs) {
			continue
		}
		res.tables[t] = info.TopicID
		for _, p := range cn.c.PartitionInfos(t) {
			hwms[tablePartition{info.TopicID, p.Partition}] = p.HighWatermark
			if p.LastStableOffset < p.HighWatermark {
				res.unstable = append(res.unstable, partition{t, p.Partition})
			}
		}
	}
	if !ch.force && maps.Equal(hwms, cn.hwms) && time.Since(cn.compactedAt) < cleanIdleMax {
		cn.c.ApplyRetention()
		res.compacted, res.unstable = true, nil // nothing new to compact
		return res
	}
	if len(res.unstable) == 0 {
		cn.c.Compact()
		res.compacted = true
		cn.hwms, cn.compactedAt = hwms, time.Now()
		cn.log.Debug("broker: compacted", "partitions", len(hwms))
	}
	return res
}

// altersCleaner reports whether req changes the broker's
// log.cleaner.backoff.ms from cleanerOff. A non-incremental AlterConfigs of
// the broker replaces every broker config: it must name it.
func altersCleaner(req kmsg.Request) bool {
	off := strconv.FormatInt(cleanerOff, 10)
	keeps := func(name string, v *string) bool { return name != cleanerConfig || (v != nil && *v == off) }
	switch r := req.(type) {
	case *kmsg.AlterConfigsRequest:
		for _, rr := range r.Resources {
			if rr.ResourceType != kmsg.ConfigResourceTypeBroker {
				continue
			}
			named := false
			for _, c := range rr.Configs {
				named = named || c.Name == cleanerConfig
				if !keeps(c.Name, c.Value) {
					return true
				}
			}
			if !named {
				return true
			}
		}
	case *kmsg.IncrementalAlterConfigsRequest:
		for _, rr := range r.Resources {
			if rr.ResourceType != kmsg.ConfigResourceTypeBroker {
				continue
			}
			for _, c := range rr.Configs {
				if !keeps(c.Name, c.Value) || (c.Name == cleanerConfig && c.Op != kmsg.IncrementalAlterConfigOpSet) {
					return true
				}
			}
		}
	}
	return false
}

// compacts reports whether a topic with configs is compacted, as kfake
// decides it.
func compacts(configs map[string]*string) bool {
	v, ok := configs["cleanup.policy"]
	return ok && v != nil && strings.Contains(*v, "compact")
}
