package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A drain lets the transactions open on compacted partitions end and keeps
// new ones from starting there, so that the cleaner finds a moment with none
// (cleaner.go). While it lasts, a producer whose open transaction holds no
// partition of a compacted topic is held when it adds one: by
// AddPartitionsToTxn, or (KIP-890, produce v12+) by producing to it. kfake
// answers the request when the drain ends, so the producer sees a slow
// answer, as from a busy broker, and retries nothing. Refused with
// CONCURRENT_TRANSACTIONS instead, a franz-go producer backs off its produce
// (250 ms, doubling while it is refused: a first version of the drain that
// refused paused producers up to 5 s in TestCompactsUnderTransactionalLoad),
// and a sarama one spends one of its 50 retries each time. A producer whose transaction holds a compacted partition already may
// go on, and add more, until it ends that transaction: it cannot commit if
// held, and it is what the drain waits for.
type drain struct {
	c *kfake.Cluster

	mu struct {
		sync.Mutex
		gen     uint64            // of the current drain; a control of another drops itself
		over    chan struct{}     // closed when the current drain ends; nil if none runs
		topics  map[string]bool   // the compacted topics, by name
		ids     map[[16]byte]bool // and by ID
		allowed map[int64]bool    // producers whose open transaction holds a compacted partition
		ended   map[int64]bool    // producers that ended a transaction during the drain
		held    int               // requests held
	}
}

func newDrain(c *kfake.Cluster) *drain { return &drain{c: c} }

// begin starts holding transactions on the compacted topics tables, then
// lets those already open on them go on.
func (d *drain) begin(ctx context.Context, cl *kgo.Client, tables map[string][16]byte) error {
	d.mu.Lock()
	d.mu.gen++
	gen := d.mu.gen
	d.mu.over, d.mu.held = make(chan struct{}), 0
	d.mu.allowed, d.mu.ended = map[int64]bool{}, map[int64]bool{}
	d.tablesLocked(tables)
	d.mu.Unlock()
	d.c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if d.keep(gen) {
			d.ended(req.(*kmsg.EndTxnRequest).ProducerID)
		}
		return nil, nil, false // kfake handles it as usual
	})
	hold := func(req kmsg.Request) (kmsg.Response, error, bool) {
		if d.keep(gen) {
			if over := d.holds(req); over != nil {
				d.c.SleepControl(func() { <-over })
			}
		}
		return nil, nil, false // kfake handles it as usual, after the hold
	}
	d.c.ControlKey(int16(kmsg.AddPartitionsToTxn), hold)
	d.c.ControlKey(int16(kmsg.Produce), hold)

	// Every producer that holds a compacted partition now started before
	// the hold: these may go on.
	open, err := openProducers(ctx, cl, tables)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range open {
		if !d.mu.ended[id] {
			d.mu.allowed[id] = true
		}
	}
	return nil
}

// keep reports whether the control of drain gen is still needed, and keeps
// it or drops it.
func (d *drain) keep(gen uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.over == nil || d.mu.gen != gen {
		d.c.DropControl()
		return false
	}
	d.c.KeepControl()
	return true
}

// tables updates the compacted topics.
func (d *drain) tables(tables map[string][16]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tablesLocked(tables)
}

func (d *drain) tablesLocked(tables map[string][16]byte) {
	d.mu.topics, d.mu.ids = map[string]bool{}, map[[16]byte]bool{}
	for name, id := range tables {
		d.mu.topics[name], d.mu.ids[id] = true, true
	}
}

// end stops the drain, answers the requests it held, and returns how many
// it held.
func (d *drain) end() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.over != nil {
		close(d.mu.over)
		d.mu.over = nil
	}
	return d.mu.held
}

// ended notes that producer id ended its transaction: from now on it is held
// like any other.
func (d *drain) ended(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.ended[id] = true
	delete(d.mu.allowed, id)
}

// holds returns the channel closed when the drain ends if req starts a
// transaction on a compacted partition, nil if not.
func (d *drain) holds(req kmsg.Request) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.over == nil {
		return nil
	}
	var hold bool
	switch r := req.(type) {
	case *kmsg.AddPartitionsToTxnRequest:
		// v4+ is sent by brokers only, never by a client.
		hold = r.Version <= 3 && !d.mu.allowed[r.ProducerID] && d.anyTopicLocked(len(r.Topics), func(i int) (string, [16]byte) {
			return r.Topics[i].Topic, [16]byte{}
		})
	case *kmsg.ProduceRequest:
		// Before v12 a transactional produce needs its partition added.
		if r.Version < 12 || r.TransactionID == nil || len(r.Topics) == 0 || len(r.Topics[0].Partitions) == 0 {
			return nil
		}
		id, ok := producerID(r.Topics[0].Partitions[0].Records)
		hold = ok && !d.mu.allowed[id] && d.anyTopicLocked(len(r.Topics), func(i int) (string, [16]byte) {
			return r.Topics[i].Topic, r.Topics[i].TopicID
		})
	}
	if !hold {
		return nil
	}
	d.mu.held++
	return d.mu.over
}

// anyTopicLocked reports whether any of the n topics topic(i) names is
// compacted.
func (d *drain) anyTopicLocked(n int, topic func(i int) (string, [16]byte)) bool {
	for i := range n {
		name, id := topic(i)
		if d.mu.topics[name] || (id != [16]byte{} && d.mu.ids[id]) {
			return true
		}
	}
	return false
}

// producerID returns the producer ID of the first record batch in recs: an
// int64 at byte 43 (base offset 8, length 4, leader epoch 4, magic 1, CRC 4,
// attributes 2, last offset delta 4, first and max timestamps 8 each).
func producerID(recs []byte) (int64, bool) {
	if len(recs) < 51 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(recs[43:51])), true
}

// openProducers returns the producers whose open transaction holds a
// partition of tables.
func openProducers(ctx context.Context, cl *kgo.Client, tables map[string][16]byte) (map[int64]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, cleanTimeout)
	defer cancel()
	meta := kmsg.NewPtrMetadataRequest()
	for name := range tables {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, t)
	}
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list compacted partitions: %w", err)
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, t := range mresp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 {
			continue // deleted meanwhile
		}
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic = *t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, p.Partition)
		}
		req.Topics = append(req.Topics, rt)
	}
	open := map[int64]bool{}
	if len(req.Topics) == 0 {
		return open, nil
	}
	resp, err := cl.Broker(0).RetriableRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("describe producers: %w", err)
	}
	for _, t := range resp.(*kmsg.DescribeProducersResponse).Topics {
		for _, p := range t.Partitions {
			for _, ap := range p.ActiveProducers {
				open[ap.ProducerID] = true
			}
		}
	}
	return open, nil
}
