package topology

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/connect"
)

// ErrTopicMismatch is returned by [Provision] and [Run] for an existing topic whose
// partition count or cleanup policy differs from the graph's declaration: running on
// it would put keys on the wrong partitions or compact a stream.
var ErrTopicMismatch = errors.New("topology: existing topic does not match its declaration")

// TopicStatus is what [Provision] did with one topic.
type TopicStatus struct {
	Name          string
	Kind          Kind
	Partitions    int32
	Replication   int16
	CleanupPolicy string
	// Created is true if Provision created the topic, false if it existed.
	Created bool
}

// Provision creates the graph's missing topics and checks the existing ones on the
// cluster named by [Brokers] (required). Streams get cleanup.policy=delete and their
// retention, tables cleanup.policy=compact; every topic gets the replication factor
// (see [Replication]) and min.insync.replicas=min(2, replication). An existing
// topic with another partition count or cleanup policy is reported with
// [ErrTopicMismatch], never changed. Provision validates the graph first.
func Provision(ctx context.Context, g *Graph, opts ...Option) ([]TopicStatus, error) {
	c := newRunConfig(opts)
	if err := c.check(forProvision); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if len(c.brokers) == 0 {
		return nil, fmt.Errorf("provision: %w", ErrNoBrokers)
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	st, err := provision(ctx, g.resolve(), c.brokers, c)
	return st, checkConnection(err)
}

// ErrNoBrokers is returned by [Provision] without [Brokers].
var ErrNoBrokers = errors.New("topology: no brokers given")

func provision(ctx context.Context, r *resolved, brokers []string, c *runConfig) ([]TopicStatus, error) {
	cl, err := connect.NewClient(brokers, c.kafka)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	rf := c.replication
	if rf <= 0 {
		bs, err := adm.ListBrokers(ctx)
		if err != nil {
			return nil, fmt.Errorf("provision: list brokers: %w", err)
		}
		rf = min(3, len(bs))
	}
	existing, err := adm.ListTopics(ctx, r.order...)
	if err != nil {
		return nil, fmt.Errorf("provision: list topics: %w", hiddenTopics(ctx, adm, err, r.order))
	}
	var out []TopicStatus
	var errs, mismatches []error
	var toCheck []string
	for _, name := range r.order {
		t := r.topics[name]
		st := TopicStatus{Name: name, Kind: t.kind, Partitions: t.partitions, Replication: int16(rf), CleanupPolicy: policy(t.kind)}
		if d, ok := existing[name]; ok && d.Err == nil {
			st.Partitions, st.Replication = int32(len(d.Partitions)), int16(d.Partitions.NumReplicas())
			if st.Partitions != t.partitions {
				mismatches = append(mismatches, fmt.Errorf("topic %q has %d partitions, the topology declares %d (recreate the topic or change the declaration): %w",
					name, st.Partitions, t.partitions, ErrTopicMismatch))
			}
			toCheck = append(toCheck, name)
			out = append(out, st)
			continue
		}
		resp, err := adm.CreateTopic(ctx, t.partitions, int16(rf), withMaxMessageBytes(topicConfigs(t, rf), c.kafka), name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case createDenied(err, name, described(existing[name])) != nil:
			errs = append(errs, createDenied(err, name, described(existing[name])))
		case errors.Is(err, kerr.TopicAlreadyExists): // another instance won the race
			toCheck = append(toCheck, name)
		case err != nil:
			errs = append(errs, fmt.Errorf("create topic %q (%d partitions, replication %d): %w", name, t.partitions, rf, err))
		default:
			st.Created = true
		}
		out = append(out, st)
	}
	if len(toCheck) > 0 {
		mismatches = append(mismatches, checkPolicies(ctx, adm, r, toCheck, out)...)
	}
	if err := errors.Join(append(mismatches, errs...)...); err != nil {
		return out, fmt.Errorf("provision: %w", err)
	}
	before := c.kafka.Producer.MaxMessageBytes
	lowest, err := fitMaxMessageBytes(ctx, adm, r.order, c.kafka)
	if err != nil {
		return out, fmt.Errorf("provision: %w", err)
	}
	if lowest != "" {
		c.logger.Warn("a topic accepts smaller records than the producer would send: records above its limit go to the dead-letter topic",
			"topic", lowest, "producer_max_message_bytes", before, "now", c.kafka.Producer.MaxMessageBytes)
	}
	return out, nil
}

func policy(k Kind) string {
	if k == KindTable {
		return "compact"
	}
	return "delete"
}

func topicConfigs(t *topicInfo, rf int) map[string]*string {
	cfg := map[string]*string{
		"cleanup.policy":      kadm.StringPtr(policy(t.kind)),
		"min.insync.replicas": kadm.StringPtr(strconv.Itoa(min(2, rf))),
	}
	if t.kind == KindStream && t.retention > 0 {
		cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(t.retention.Milliseconds(), 10))
	}
	return cfg
}

// checkPolicies compares the cleanup policy of existing topics with their kind and
// records it in out.
func checkPolicies(ctx context.Context, adm *kadm.Client, r *resolved, names []string, out []TopicStatus) []error {
	rcs, err := describeConfigs(ctx, adm, names...)
	if err != nil {
		return []error{fmt.Errorf("describe topic configs: %w", configsDenied(ctx, adm, err, names))}
	}
	var errs []error
	for _, rc := range rcs {
		if rc.Err != nil {
			errs = append(errs, fmt.Errorf("describe topic %q: %w", rc.Name, describeDenied(rc.Err, rc.Name)))
			continue
		}
		got := "delete" // Kafka's default when unset
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				got = *c.Value
			}
		}
		if i := slices.IndexFunc(out, func(s TopicStatus) bool { return s.Name == rc.Name }); i >= 0 {
			out[i].CleanupPolicy = got
		}
		want := policy(r.topics[rc.Name].kind)
		if !slices.Contains(strings.Split(got, ","), want) || (want == "delete" && strings.Contains(got, "compact")) {
			errs = append(errs, fmt.Errorf("topic %q has cleanup.policy=%s, the topology declares a %s (cleanup.policy=%s): %w",
				rc.Name, got, r.topics[rc.Name].kind, want, ErrTopicMismatch))
		}
	}
	return errs
}

// describeWait bounds how long describeConfigs waits for brokers to learn of
// topics just created.
const describeWait = 30 * time.Second

// describeConfigs is adm.DescribeTopicConfigs, asked again while a topic's
// answer is a retriable error. On a cluster of several brokers, a topic
// CreateTopics has just created is unknown for a moment to the brokers
// whose metadata has not caught up with the controller, and describing it
// there fails with UNKNOWN_TOPIC_OR_PARTITION (seen on Apache Kafka's 3-node
// cluster; the one-node embedded broker never shows it).
func describeConfigs(ctx context.Context, adm *kadm.Client, names ...string) (kadm.ResourceConfigs, error) {
	deadline := time.Now().Add(describeWait)
	for {
		rcs, err := adm.DescribeTopicConfigs(ctx, names...)
		retry := err == nil && slices.ContainsFunc(rcs, func(rc kadm.ResourceConfig) bool { return kerr.IsRetriable(rc.Err) })
		if !retry || time.Now().After(deadline) {
			return rcs, err
		}
		select {
		case <-ctx.Done():
			return rcs, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
