package visa

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// Lag returns, for each level named (every level of [Levels] if none is), the
// consumer lag of its agent's consumer group, read from the cluster that
// cluster names (topology.Brokers and topology.WithSecurity):
// how many records of the level's inputs (its input topic, its loop topic
// when it runs with a concurrency above 1 or retries on timers, and its retry
// queue) lie past the group's committed offsets, as [observe.GraphLag]
// counts them (transaction markers of exactly-once levels are no records). A
// partition the group never committed counts from the start of its log,
// where a new group starts; so a level that never ran has the whole of its
// queue as lag, and a stopped level's lag grows with its queue.
//
// The lag is what has not been committed: a running level commits what it has
// processed within about a second, so its lag lags too. Lag fails on a broker
// error and for a level name not in the catalog.
func Lag(ctx context.Context, cluster []topology.Option, levels ...string) (map[string]int64, error) {
	ls, err := selectLevels(levels)
	if err != nil {
		return nil, err
	}
	// The levels with every input they may have: the loop topic of a
	// concurrency above 1 and the retry queue.
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	g, err := GraphWith(nil, Options{Concurrency: 2, Retry: true}, names...)
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
	rows, err := observe.GraphLag(ctx, cl, g)
	if err != nil {
		return nil, fmt.Errorf("lag: %w", err)
	}
	out := map[string]int64{}
	for _, l := range ls {
		out[l.Name] = 0
		for _, r := range rows {
			if r.Group != l.Agent() {
				continue
			}
			if r.Err != nil {
				return nil, fmt.Errorf("lag: %s on %s/%d: %w", r.Group, r.Topic, r.Partition, r.Err)
			}
			out[l.Name] += max(r.Lag, 0)
		}
	}
	return out, nil
}
