package visa_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/examples/visa/visa"
	"github.com/sluicehq/sluice/topology"
)

// logPipeline logs what a stalled pipeline test needs to tell where records
// wait: each level's lag, the partitions whose last stable offset trails the
// end (an open transaction), and each level's consumer group.
func logPipeline(t *testing.T, adm *kadm.Client, addrs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
	defer cancel()
	lag, err := visa.Lag(ctx, []topology.Option{topology.Brokers(addrs...)})
	t.Logf("lag per level: %v (err %v)", lag, err)

	topics := []string{visa.Applications.Name, visa.Final.Name}
	var groups []string
	for _, l := range visa.Levels {
		topics = append(topics, visa.QueueName(l.Name))
		groups = append(groups, l.Agent())
	}
	ends, err1 := adm.ListEndOffsets(ctx, topics...)
	stable, err2 := adm.ListCommittedOffsets(ctx, topics...)
	if err1 != nil || err2 != nil {
		t.Logf("offsets: %v, %v", err1, err2)
	} else {
		var open []string
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(o.Topic, o.Partition); ok && s.Offset < o.Offset {
				open = append(open, fmt.Sprintf("%s/%d stable %d end %d", o.Topic, o.Partition, s.Offset, o.Offset))
			}
		})
		slices.Sort(open)
		t.Logf("partitions with an open transaction: %d %v", len(open), open)
	}
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		t.Logf("describe groups: %v", err)
		return
	}
	for _, g := range described.Sorted() {
		var ms []string
		for _, m := range g.Members {
			a, _ := m.Assigned.AsConsumer()
			var parts []string
			if a != nil {
				for _, tp := range a.Topics {
					parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
				}
			}
			ms = append(ms, fmt.Sprintf("%s:%s", m.MemberID[max(0, len(m.MemberID)-6):], strings.Join(parts, ",")))
		}
		t.Logf("group %s: state %s, members %v", g.Group, g.State, ms)
	}
}
