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
// (topology's fault matrix pins it), but not for ever (see [kgroup.denial]).
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

// denial returns the error that stops a processor of group on cfg when err,
// from a poll at now, is a GROUP_AUTHORIZATION_FAILED that the broker has
// answered every join with for longer than Consumer.Group.Rebalance.Timeout
// (what a rebalance may take): the principal lacks READ on the group and no
// one granted it meanwhile. A session that begins (see [kgroup.assigned])
// ends the count; nil for other errors and a denial within the timeout.
func (g *kgroup) denial(err error, now time.Time) error {
	var gs *kgo.ErrGroupSession
	if !errors.As(err, &gs) || !errors.Is(gs.Err, kerr.GroupAuthorizationFailed) {
		return nil
	}
	g.denied.CompareAndSwap(0, now.UnixNano())
	since := now.Sub(time.Unix(0, g.denied.Load()))
	limit := g.cfg.Consumer.Group.Rebalance.Timeout
	if since < limit {
		return nil
	}
	return fmt.Errorf("%w %q (%s, every join for %v, over Consumer.Group.Rebalance.Timeout %v): grant the agent's principal READ on the group, e.g. kafka-acls --add --allow-principal User:NAME --operation Read --group %s",
		ErrGroupRefused, g.k.group, kerr.GroupAuthorizationFailed.Message, since.Round(time.Second), limit, g.k.group)
}

// refuse stops the group for good with err (the first one counts):
// Consume returns it, and so does the processor's Run.
func (g *kgroup) refuse(err error) {
	g.refusing.Do(func() {
		g.k.refused.Store(&err)
		close(g.refused)
	})
}

// refusal returns the error the group was refused with, if any.
func (k *kproc) refusal() error {
	if p := k.refused.Load(); p != nil {
		return *p
	}
	return nil
}
