package gokax

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrGroupRefused is wrapped by the error of a processor whose consumer
// group the broker refused for a reason only configuration can fix: a
// session timeout outside the broker's bounds, or a group name it does not
// accept. franz-go would retry the join forever; the processor stops
// instead (see [groupRefusal]).
var ErrGroupRefused = errors.New("the broker refused the consumer group")

// groupRefusal returns the error that stops a processor of group on cfg
// when err, from a poll, is a group session error that retrying cannot fix;
// nil for any other error (franz-go retries those).
//
// The refusals are Kafka's non-retriable JoinGroup errors that answer a
// member's own settings, the same on every try:
//   - INVALID_SESSION_TIMEOUT: Consumer.Group.Session.Timeout is outside the
//     broker's group.min.session.timeout.ms..group.max.session.timeout.ms;
//   - INVALID_GROUP_ID: the group's (the agent's) name.
//
// Other errors franz-go hands the group loop may heal while it retries:
// INCONSISTENT_GROUP_PROTOCOL and GROUP_MAX_SIZE_REACHED end when other
// members leave, COORDINATOR_* and the like when the cluster settles, and
// GROUP_AUTHORIZATION_FAILED when an ACL is granted: the agent rides one out
// (topology's fault matrix pins it), but not for ever (see [kproc.deny]).
func groupRefusal(cfg *sarama.Config, group string, err error) error {
	var gs *kgo.ErrGroupSession
	if !errors.As(err, &gs) {
		return nil
	}
	var ke *kerr.Error
	if !errors.As(gs.Err, &ke) {
		return nil
	}
	switch ke {
	case kerr.InvalidSessionTimeout:
		return fmt.Errorf("%w %q (%s): session timeout %v: set KafkaConfig's Consumer.Group.Session.Timeout between the broker's group.min.session.timeout.ms and group.max.session.timeout.ms",
			ErrGroupRefused, group, ke.Message, cfg.Consumer.Group.Session.Timeout)
	case kerr.InvalidGroupID:
		return fmt.Errorf("%w %q (%s): rename the agent (its name is the group's)",
			ErrGroupRefused, group, ke.Message)
	}
	return nil
}

// refuse stops the group for good with err (the first one counts):
// Consume returns it, and so does the processor's Run.
func (g *kgroup) refuse(err error) {
	g.k.refused.CompareAndSwap(nil, &err)
	g.refusing.Do(func() { close(g.refused) })
	g.mu.Lock()
	s := g.cur
	g.mu.Unlock()
	if s != nil {
		s.stop("refused") // Consume returns once goka cleaned it up
	}
}

// refuse stops the processor for good with err (the first one counts): its
// Run returns it, and its consumer group, if built, stops.
func (k *kproc) refuse(err error) {
	k.refused.CompareAndSwap(nil, &err)
	if g := k.kg.Load(); g != nil {
		g.refuse(err)
	}
}

// deny notes err, of a try of request on topic (op READ or WRITE: a fetch
// or a write), if it is an ACL denial (see [denied]), in the processor's
// [Denials], and stops the processor with [ErrNotAuthorized] once the
// denial lasted Consumer.Group.Rebalance.Timeout. With gaps (tries that
// come back to back, as fetches do), a denial that follows the previous one
// by more than that begins a new streak; without, one that follows it by
// more than that plus [retrySpacing]. It reports whether err was a denial.
func (k *kproc) deny(err error, op, topic, request string, gaps bool) bool {
	txnID := ""
	if k.tx != nil {
		txnID = k.tx.id
	}
	g, ok := denied(err, op, topic, k.group, txnID)
	if !ok {
		return false
	}
	key, hint := g, ""
	if txnID != "" && g.resource == "topic" && g.op == "WRITE" {
		// A transaction's writes fail together: franz-go fails every
		// record of the transaction with the error Kafka answered
		// AddPartitionsToTxn with for the denied topic's partitions.
		key.name = ""
		hint = "grant it, or WRITE on the agent's other output or changelog topic the transaction writes (Kafka fails a transaction's writes together)"
	}
	limit := k.cfg.Consumer.Group.Rebalance.Timeout
	gap := limit + retrySpacing
	if gaps {
		gap = limit
	}
	if since, over := k.denials.see(key, time.Now(), limit, gap); over {
		k.refuse(g.refusal(request, since, limit, hint))
	}
	return true
}

// refusal returns the error the group was refused with, if any.
func (k *kproc) refusal() error {
	if p := k.refused.Load(); p != nil {
		return *p
	}
	return nil
}
