package gokax

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrNotAuthorized is wrapped by the error of a processor or a view that
// the cluster's ACLs denied an operation for longer than
// Consumer.Group.Rebalance.Timeout: the principal lacks READ on an input
// or table topic or on the consumer group, WRITE on an output or changelog
// topic or on the exactly-once transactional id. The error names the
// operation, the resource and the kafka-acls command that grants it.
// A denial is retried meanwhile (an ACL granted a moment later heals it;
// see [Denials]); franz-go and goka would retry it for ever.
var ErrNotAuthorized = errors.New("the cluster's ACLs deny the principal")

// A grant is what a denied principal lacks: an operation on a resource,
// in Kafka's names.
type grant struct {
	code     *kerr.Error // the broker's answer
	op       string      // READ, WRITE, IDEMPOTENT_WRITE
	resource string      // topic, group, transactional-id, cluster
	name     string      // "" for the cluster
}

// denied returns the grant that err, an error of an operation on topic
// ("" if none) in group with transactional id txnID ("" outside
// exactly-once mode), says the principal lacks, and false if err is no ACL
// denial or names a topic the caller does not know. A topic is denied for
// op (READ for a fetch, WRITE for a write); a group for READ, which Kafka's
// JoinGroup needs and which implies the DESCRIBE its OffsetFetch needs.
func denied(err error, op, topic, group, txnID string) (grant, bool) {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return grant{}, false
	}
	switch ke {
	case kerr.TopicAuthorizationFailed:
		return grant{ke, op, "topic", topic}, topic != ""
	case kerr.GroupAuthorizationFailed:
		return grant{ke, "READ", "group", group}, group != ""
	case kerr.TransactionalIDAuthorizationFailed:
		return grant{ke, "WRITE", "transactional-id", txnID}, txnID != ""
	case kerr.ClusterAuthorizationFailed:
		// A producer's InitProducerID (idempotence; Kafka 3.0 and later
		// imply it from WRITE on any topic).
		return grant{ke, "IDEMPOTENT_WRITE", "cluster", ""}, true
	}
	return grant{}, false
}

// command returns the kafka-acls command that grants op on resource name
// ("" for the cluster) to a principal.
func command(op, resource, name string) string {
	var o strings.Builder
	for w := range strings.SplitSeq(strings.ToLower(op), "_") {
		o.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	target := "--cluster"
	if name != "" {
		target = "--" + resource + " " + name
	}
	return "kafka-acls --bootstrap-server BROKER --add --allow-principal User:NAME --operation " + o.String() + " " + target
}

// NotAuthorized returns the error, wrapping [ErrNotAuthorized], that says
// the cluster's ACLs deny the principal op (Kafka's name: READ, WRITE,
// CREATE, DESCRIBE_CONFIGS...) on resource (topic, group,
// transactional-id, cluster) name ("" for the cluster): the broker
// answered code, and why says more. It names the kafka-acls command that
// grants it; hint, if set, replaces "grant it".
func NotAuthorized(code *kerr.Error, op, resource, name, why, hint string) error {
	what := "the " + resource
	if name != "" {
		what = fmt.Sprintf("%s %q", resource, name)
	}
	if why != "" {
		why = ", " + why
	}
	if hint == "" {
		hint = "grant it"
	}
	msg := fmt.Sprintf("%s %s on %s (%s%s): %s, e.g. %s",
		ErrNotAuthorized, op, what, code.Message, why, hint, command(op, resource, name))
	return &notAuthorized{msg, code}
}

// notAuthorized is the error of [NotAuthorized]: it wraps the broker's
// answer too, which Kafka marks non-retriable, so that whoever retries
// what may heal ([kerr.Error.Retriable]) stops on it.
type notAuthorized struct {
	msg  string
	code *kerr.Error
}

func (e *notAuthorized) Error() string   { return e.msg }
func (e *notAuthorized) Unwrap() []error { return []error{ErrNotAuthorized, e.code} }

// refusal returns the error that stops an agent denied g at every try
// (each a try of request) for since, over limit; hint, if set, replaces
// "grant it".
func (g grant) refusal(request string, since, limit time.Duration, hint string) error {
	err := NotAuthorized(g.code, g.op, g.resource, g.name,
		fmt.Sprintf("every %s for %v, over Consumer.Group.Rebalance.Timeout %v", request, since.Round(time.Second), limit), hint)
	if g.resource == "group" {
		return refusedGroup{err}
	}
	return err
}

// refusedGroup is the ACL denial of a consumer group: it wraps
// [ErrGroupRefused] too.
type refusedGroup struct{ error }

func (e refusedGroup) Unwrap() []error { return []error{e.error, ErrGroupRefused} }

// Denials times the cluster's ACL denials of one agent's processors (or of
// a view), across their runs: a denial that lasts longer than a limit
// (Consumer.Group.Rebalance.Timeout) stops the agent with
// [ErrNotAuthorized], and one granted sooner is ridden out. A denial's
// streak ends when what it denied succeeds (a write to the topic, records
// fetched from it, offsets fetched for the group), and, for fetches, which
// franz-go repeats at once, when none came for the limit. The zero value is
// ready; safe for concurrent use. Keep one per agent across the runs of its
// processors ([Options.Denials]): a write denial fails a run, and the
// supervisor's restarts must not reset its streak.
type Denials struct {
	n  atomic.Int64 // len(m), read without mu where records succeed
	mu sync.Mutex
	m  map[grant]*streak
}

// streak is one grant's run of denials.
type streak struct{ first, last time.Time }

// retrySpacing bounds how far apart the tries of a denied operation that
// is retried by a restart or a reconnect come: goka's view reconnects back
// off up to 2 minutes, the supervisor's restarts up to RestartBackoff's max
// (10 s by default), franz-go's rejoins a few seconds. A denial that
// follows the previous one of its grant by more than the limit plus this
// was not met by every try since: a one-off denial long ago, which must not
// count toward today's.
const retrySpacing = 5 * time.Minute

// see notes a denial of g at now and returns how long g has been denied,
// and whether that is limit or longer. A denial more than gap after the
// previous one begins a new streak.
func (d *Denials) see(g grant, now time.Time, limit, gap time.Duration) (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[grant]*streak{}
	}
	s := d.m[g]
	if s == nil {
		s = &streak{first: now}
		d.m[g] = s
		d.n.Store(int64(len(d.m)))
	} else if now.Sub(s.last) > gap {
		s.first = now
	}
	s.last = now
	since := now.Sub(s.first)
	return since, since >= limit
}

// clear ends the streaks of the grants match selects.
func (d *Denials) clear(match func(grant) bool) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for g := range d.m {
		if match(g) {
			delete(d.m, g)
		}
	}
	d.n.Store(int64(len(d.m)))
}

// clearTopic ends the streaks of op on topic.
func (d *Denials) clearTopic(op, topic string) {
	if d.n.Load() == 0 {
		return
	}
	d.clear(func(g grant) bool { return g.resource == "topic" && g.op == op && g.name == topic })
}

// clearWrite ends the streaks of WRITE on topic and of what a producer
// needs before it writes (its transactional id, idempotence): a write to
// topic succeeded.
func (d *Denials) clearWrite(topic string) {
	if d.n.Load() == 0 {
		return
	}
	d.clear(func(g grant) bool { return g.op != "READ" && (g.resource != "topic" || g.name == topic) })
}
