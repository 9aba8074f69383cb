package broker

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fault is a fault injected into a [Broker] by [Broker.Fail],
// [Broker.Drop] or [Broker.Stall], for tests of how clients survive broker
// trouble. Its methods are safe for concurrent use.
type Fault struct {
	hits   func() int
	remove func()
}

// Hits returns how many requests the fault has affected so far.
func (f *Fault) Hits() int { return f.hits() }

// Remove uninstalls the fault, if it has not used up its count. It must
// not be called after [Broker.Close].
func (f *Fault) Remove() { f.remove() }

// Match selects the requests a fault applies to; nil matches every request
// of the fault's key. It runs on the broker's request loop: it must not
// block.
type Match func(kmsg.Request) bool

// Fail answers the next n requests with key that match (-1: until
// [Fault.Remove]) with err in place of the real answer, per partition or
// group the request names (kfake's [kfake.Fault]). With
// kerr.RequestTimedOut on a produce or an offset commit the broker applies
// the write first, so the client sees a timeout for a write that happened;
// on other requests, and with other errors, the broker does nothing. A
// non-retriable err (kerr.Error.Retriable false) tells a Kafka client that
// retrying cannot help.
func (b *Broker) Fail(key kmsg.Key, err *kerr.Error, n int, match Match) *Fault {
	h := b.c.Fault(kfake.Fault{Keys: []kmsg.Key{key}, Err: err, Count: n, When: match})
	return &Fault{hits: h.Hits, remove: h.Remove}
}

// FailTopic is [Broker.Fail] for the partitions of topic alone, in every
// request with key that names them, as Kafka answers a denial of one topic
// (TOPIC_AUTHORIZATION_FAILED): a produce request that also writes other
// topics fails for topic's partitions only, and an offset fetch of a group
// for topic's partitions, not the group's. (Fail with [ForTopic] fails
// every partition of a matching request; with [ForGroup] an offset fetch
// whole.)
func (b *Broker) FailTopic(key kmsg.Key, err *kerr.Error, n int, topic string) *Fault {
	h := b.c.Fault(kfake.Fault{Keys: []kmsg.Key{key}, Err: err, Count: n, Topic: topic})
	return &Fault{hits: h.Hits, remove: h.Remove}
}

// NoFetchSessions makes the broker refuse to begin fetch sessions
// (KIP-227): it answers a fetch that asks for one with
// FETCH_SESSION_ID_NOT_FOUND, after which a Kafka client fetches without
// one (franz-go for good), naming every partition in every fetch. A fault
// on fetches ([Broker.Fail] with kmsg.Fetch) then reaches every fetch of
// its partitions, as Kafka's ACL checks do: within a session the broker
// checks faults only on the partitions a request names, and an incremental
// fetch names only those that changed. Install it before clients fetch.
func (b *Broker) NoFetchSessions() *Fault {
	var hits atomic.Int64
	c := b.c
	ctl := func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.FetchRequest)
		if r.Version < 7 || r.SessionEpoch != 0 {
			return nil, nil, false
		}
		hits.Add(1)
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil, true
	}
	return b.control(kmsg.Fetch, ctl, &hits)
}

// errDropped is what a control function returns to make kfake close the
// connection of the request it handles.
var errDropped = errors.New("broker: connection dropped by a fault")

// Drop closes the client's connection instead of answering the next n
// requests with key that match (n >= 1): the client sees the connection
// reset and the request unanswered, and the broker does nothing with it.
func (b *Broker) Drop(key kmsg.Key, n int, match Match) *Fault {
	var hits atomic.Int64
	c := b.c
	ctl := func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl() // until n requests are dropped
		if match != nil && !match(req) {
			return nil, nil, false
		}
		if hits.Add(1) >= int64(n) {
			c.DropControl()
		}
		return nil, errDropped, true
	}
	return b.control(key, ctl, &hits)
}

// Stall holds the next request with key that matches for d before the
// broker handles it normally. kfake serves every client from one loop, and
// a control function that waits holds that loop: the whole broker answers
// nothing for d. Its group timers still run, so a stall longer than a
// consumer group's session timeout expires every member. Closing the broker
// during a stall waits for the stall to end.
func (b *Broker) Stall(key kmsg.Key, d time.Duration, match Match) *Fault {
	var hits atomic.Int64
	c := b.c
	ctl := func(req kmsg.Request) (kmsg.Response, error, bool) {
		if match != nil && !match(req) {
			c.KeepControl()
			return nil, nil, false
		}
		c.DropControl()
		hits.Add(1)
		time.Sleep(d) // holds kfake's loop: the stall itself
		return nil, nil, false
	}
	return b.control(key, ctl, &hits)
}

// control installs ctl for key and returns its fault. Removing it before it
// is used up makes it a no-op: kfake has no call to remove a control.
func (b *Broker) control(key kmsg.Key, ctl func(kmsg.Request) (kmsg.Response, error, bool), hits *atomic.Int64) *Fault {
	var removed atomic.Bool
	c := b.c
	c.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if removed.Load() {
			c.DropControl()
			return nil, nil, false
		}
		return ctl(req)
	})
	return &Fault{hits: func() int { return int(hits.Load()) }, remove: func() { removed.Store(true) }}
}

// ForTopic matches produce and fetch requests that name topic. Produce and
// fetch requests of version 13 and later name topics by ID only (franz-go's
// kgo sends those unless capped; sluice's processors, views and emitters,
// capped at their KafkaConfig's Version, 2.8 by default, send names):
// ForTopic does not match them.
func ForTopic(topic string) Match {
	return func(req kmsg.Request) bool {
		switch r := req.(type) {
		case *kmsg.ProduceRequest:
			for _, t := range r.Topics {
				if t.Topic == topic {
					return true
				}
			}
		case *kmsg.FetchRequest:
			for _, t := range r.Topics {
				if t.Topic == topic {
					return true
				}
			}
		}
		return false
	}
}

// ForGroup matches the consumer-group requests of group: join, sync,
// heartbeat, leave, offset commit and offset fetch.
func ForGroup(group string) Match {
	return func(req kmsg.Request) bool {
		switch r := req.(type) {
		case *kmsg.JoinGroupRequest:
			return r.Group == group
		case *kmsg.SyncGroupRequest:
			return r.Group == group
		case *kmsg.HeartbeatRequest:
			return r.Group == group
		case *kmsg.LeaveGroupRequest:
			return r.Group == group
		case *kmsg.OffsetCommitRequest:
			return r.Group == group
		case *kmsg.OffsetFetchRequest:
			return r.Group == group
		}
		return false
	}
}
