package visa

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// Lag returns, for each level named (every level of [Levels] if none is), the
// consumer lag of its agent's consumer group, read from the cluster that
// cluster names (topology.Brokers and topology.WithSecurity):
// how many records of the level's inputs (its input topic, its loop topic
// when it runs with a concurrency above 1 or retries on timers, and its retry
// queue) lie past the group's committed
// offsets, as [observe.Lag] counts them (transaction markers of exactly-once
// levels are no records). A partition the group never committed counts from
// the start of its log, where a new group starts; so a level that never ran
// has the whole of its queue as lag, and a stopped level's lag grows with its
// queue.
//
// The lag is what has not been committed: a running level commits what it has
// processed within about a second, so its lag lags too. Lag fails on a broker
// error and for a level name not in the catalog.
func Lag(ctx context.Context, cluster []topology.Option, levels ...string) (map[string]int64, error) {
	ls, err := selectLevels(levels)
	if err != nil {
		return nil, err
	}
	conn, err := topology.ClientOptions(cluster...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var topics, groups []string
	for _, l := range ls {
		topics = append(topics, l.Input, topology.LoopName(l.Agent()), RetryQueueName(l.Name))
		groups = append(groups, l.Agent())
	}
	starts, err := listOffsets(ctx, adm.ListStartOffsets, topics)
	if err != nil {
		return nil, fmt.Errorf("lag: start offsets: %w", err)
	}
	ends, err := listOffsets(ctx, adm.ListEndOffsets, topics)
	if err != nil {
		return nil, fmt.Errorf("lag: end offsets: %w", err)
	}
	rows, err := observe.Lag(ctx, cl, groups...)
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	type part struct {
		group, topic string
		p            int32
	}
	committed := map[part]int64{}
	for _, r := range rows {
		if r.Err != nil {
			return nil, fmt.Errorf("lag: %s on %s/%d: %w", r.Group, r.Topic, r.Partition, r.Err)
		}
		if r.Committed >= starts[r.Topic][r.Partition] { // else from the log start, as never committed
			committed[part{r.Group, r.Topic, r.Partition}] = r.Lag
		}
	}
	out := map[string]int64{}
	for _, l := range ls {
		var lag int64
		for _, topic := range []string{l.Input, topology.LoopName(l.Agent()), RetryQueueName(l.Name)} {
			for p, end := range ends[topic] {
				if n, ok := committed[part{l.Agent(), topic, p}]; ok {
					lag += n
				} else {
					lag += max(end-starts[topic][p], 0) // never committed
				}
			}
		}
		out[l.Name] = lag
	}
	return out, nil
}

// listOffsets calls list for topics and returns the offsets by topic and
// partition, leaving out topics that do not exist (a level's loop topic exists
// only once it ran with a concurrency above 1).
func listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topics []string) (map[string]map[int32]int64, error) {
	los, err := list(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	var errs []error
	los.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
		case o.Err != nil:
			errs = append(errs, fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, o.Err))
		default:
			if out[o.Topic] == nil {
				out[o.Topic] = map[int32]int64{}
			}
			out[o.Topic][o.Partition] = o.Offset
		}
	})
	return out, errors.Join(errs...)
}
