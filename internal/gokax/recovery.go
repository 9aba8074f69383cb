package gokax

import (
	"context"
	"slices"

	"github.com/lovoo/goka"
)

// Recovery is the recovery progress of one partition of a processor's table.
type Recovery struct {
	Partition int32
	// Restored counts the changelog records restored since this processor
	// started recovering the partition.
	Restored int64
	// Remaining is how many changelog offsets are left to restore, 0 once
	// recovered: an upper bound, as compaction leaves gaps in the offsets.
	Remaining int64
	// Done reports whether the partition has recovered.
	Done bool
}

// Recovery returns the recovery progress of the table partitions this
// processor holds, in partition order: none for a stateless group, and none for
// a partition whose recovery has not started. It reads goka's statistics,
// which take no lock that processing holds for long.
func (p *Processor) Recovery(ctx context.Context) []Recovery {
	stats := p.p.StatsWithContext(ctx)
	if stats == nil {
		return nil
	}
	var out []Recovery
	for part, ps := range stats.Group {
		ts := ps.TableStats
		if ts == nil || ts.Recovery == nil || ts.Recovery.StartTime.IsZero() {
			continue
		}
		r := Recovery{Partition: part, Done: ts.Status == goka.PartitionRunning}
		if ts.Input != nil {
			r.Restored = int64(ts.Input.Count)
		}
		if !r.Done {
			// goka's Recovery.Offset is the offset to load first until a record
			// is loaded, and the last one loaded after that.
			next := ts.Recovery.Offset
			if r.Restored > 0 {
				next++
			}
			r.Remaining = max(ts.Recovery.Hwm-next, 0)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Recovery) int { return int(a.Partition - b.Partition) })
	return out
}
