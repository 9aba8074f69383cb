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

// reapInterval is how often the reaper looks for dead members.
const reapInterval = time.Second

// reapGrace is added to a member's deadline before it is removed.
const reapGrace = time.Second

// unknownDeadline is the deadline of a member the reaper has not seen a
// request from since the broker started (kfake restores members after a
// clean restart): Kafka's default session timeout.
const unknownDeadline = 45 * time.Second

// member is what the reaper knows of a group member.
type member struct {
	seen      time.Time     // its last request
	session   time.Duration // from its last JoinGroup; 0 if not seen
	rebalance time.Duration // likewise
	joining   bool          // its last request was a JoinGroup or SyncGroup
}

// deadline is how long the member may stay silent after its last request:
// its session timeout, plus its rebalance timeout while it waits in a join
// or sync.
func (m member) deadline() time.Duration {
	if m.session <= 0 {
		return unknownDeadline
	}
	if m.joining {
		return m.session + m.rebalance
	}
	return m.session
}

type reaper struct {
	start time.Time
	cl    *kgo.Client
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	members map[string]member // by member ID
}

// startReaper watches the group requests c serves at addr and removes dead
// members every interval, with a client made with opts.
func startReaper(c *kfake.Cluster, addr string, interval time.Duration, opts []kgo.Opt) (*reaper, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return nil, err
	}
	r := &reaper{start: time.Now(), cl: cl, stop: make(chan struct{}), done: make(chan struct{}), members: map[string]member{}}
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
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := func(id string, joining bool) member {
		m := r.members[id]
		m.seen, m.joining = time.Now(), joining
		return m
	}
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		if req.MemberID == "" {
			return // the first join of a new member only gets its ID
		}
		m := seen(req.MemberID, true)
		m.session = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
		m.rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
		r.members[req.MemberID] = m
	case *kmsg.SyncGroupRequest:
		r.members[req.MemberID] = seen(req.MemberID, true)
	case *kmsg.HeartbeatRequest:
		r.members[req.MemberID] = seen(req.MemberID, false)
	case *kmsg.OffsetCommitRequest:
		if req.MemberID != "" {
			r.members[req.MemberID] = seen(req.MemberID, false)
		}
	case *kmsg.LeaveGroupRequest:
		delete(r.members, req.MemberID)
		for _, m := range req.Members {
			delete(r.members, m.MemberID)
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
				known.seen = r.start
			}
			if now.Sub(known.seen) > known.deadline()+reapGrace {
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
		if !present[id] && now.Sub(m.seen) > m.deadline()+reapGrace {
			delete(r.members, id)
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
