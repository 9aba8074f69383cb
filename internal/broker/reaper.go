package broker

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A group member whose process dies while its JoinGroup waits for the
// rebalance to complete stays in its group for good on kfake: the join
// completes with it, its answer cannot be sent, and kfake then arms no
// session timer for it (Kafka schedules the heartbeat expiry of every member
// when a join completes). The dead member keeps its partitions, which nobody
// consumes until the next rebalance, if one ever comes. The reaper does what
// Kafka's coordinator does: a member that sent nothing to the group within
// its session timeout (plus its rebalance timeout while it waits in a join
// or sync) is removed with a LeaveGroup, which rebalances the group.

// reapGrace is added to a member's deadline before it is removed.
const reapGrace = time.Second

// unknownDeadline is the deadline of a member the reaper has not seen a
// request from since the broker started (kfake restores members after a
// clean restart): Kafka's default session timeout.
const unknownDeadline = 45 * time.Second

// member is what the reaper knows of a group member.
type member struct {
	group    string
	seen     time.Time
	deadline time.Duration // from seen
}

type reaper struct {
	start time.Time
	cl    *kgo.Client
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	members map[string]member // by member ID
	session map[string]time.Duration
	rebal   map[string]time.Duration
}

// startReaper watches the group requests c serves at addr and removes dead
// members every interval.
func startReaper(c *kfake.Cluster, addr string, interval time.Duration) (*reaper, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	r := &reaper{
		start: time.Now(), cl: cl, stop: make(chan struct{}), done: make(chan struct{}),
		members: map[string]member{}, session: map[string]time.Duration{}, rebal: map[string]time.Duration{},
	}
	for _, k := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.OffsetCommit, kmsg.LeaveGroup} {
		c.ControlKey(int16(k), func(req kmsg.Request) (kmsg.Response, error, bool) {
			r.observe(req)
			return nil, nil, false // kfake handles it as usual
		})
	}
	go r.run(interval)
	return r, nil
}

// observe notes a group request of a member.
func (r *reaper) observe(req kmsg.Request) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		if req.MemberID == "" {
			return
		}
		r.session[req.MemberID] = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
		r.rebal[req.MemberID] = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
		r.members[req.MemberID] = member{req.Group, now, r.session[req.MemberID] + r.rebal[req.MemberID]}
	case *kmsg.SyncGroupRequest:
		r.members[req.MemberID] = member{req.Group, now, r.session[req.MemberID] + r.rebal[req.MemberID]}
	case *kmsg.HeartbeatRequest:
		r.members[req.MemberID] = member{req.Group, now, r.session[req.MemberID]}
	case *kmsg.OffsetCommitRequest:
		if req.MemberID != "" {
			r.members[req.MemberID] = member{req.Group, now, r.session[req.MemberID]}
		}
	case *kmsg.LeaveGroupRequest:
		ids := []string{req.MemberID}
		for _, m := range req.Members {
			ids = append(ids, m.MemberID)
		}
		for _, id := range ids {
			delete(r.members, id)
			delete(r.session, id)
			delete(r.rebal, id)
		}
	}
}

func (r *reaper) run(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.reap()
		}
	}
}

// reap removes the members of every group that are past their deadline.
func (r *reaper) reap() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adm := kadm.NewClient(r.cl)
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return
	}
	described, err := adm.DescribeGroups(ctx, listed.Groups()...)
	if err != nil {
		return
	}
	now := time.Now()
	present := map[string]bool{}
	for _, g := range described.Sorted() {
		var dead []string
		r.mu.Lock()
		for _, m := range g.Members {
			present[m.MemberID] = true
			known, ok := r.members[m.MemberID]
			if !ok {
				known = member{g.Group, r.start, unknownDeadline}
			}
			if known.deadline <= 0 {
				known.deadline = unknownDeadline
			}
			if now.Sub(known.seen) > known.deadline+reapGrace {
				dead = append(dead, m.MemberID)
				delete(r.members, m.MemberID)
			}
		}
		r.mu.Unlock()
		if len(dead) > 0 {
			r.leave(ctx, g.Group, dead)
		}
	}
	r.forget(present, now)
}

// forget drops what the reaper knows of members that are in no group and
// past their deadline: they left or the group removed them.
func (r *reaper) forget(present map[string]bool, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, m := range r.members {
		if !present[id] && now.Sub(m.seen) > m.deadline+reapGrace {
			delete(r.members, id)
			delete(r.session, id)
			delete(r.rebal, id)
		}
	}
}

// leave removes members from group.
func (r *reaper) leave(ctx context.Context, group string, ids []string) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	for _, id := range ids {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		req.Members = append(req.Members, m)
	}
	_, _ = req.RequestWith(ctx, r.cl) // a member that left meanwhile is unknown: fine
}

func (r *reaper) close() {
	close(r.stop)
	<-r.done
	r.cl.Close()
}

// reapInterval is how often the reaper looks for dead members.
const reapInterval = time.Second
