package observe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// ageTimeout bounds the reads of the records whose timestamps give the age of
// the lag; a partition not read by then has an unknown age (-1).
const ageTimeout = 5 * time.Second

// LagRow is the lag of one consumer group (an agent) on one partition.
type LagRow struct {
	// Group is the consumer group: the agent's name.
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, the next record it will
	// process; -1 if the group has committed nothing on this partition.
	Committed int64 `json:"committed"`
	// End is the log end offset: the offset the next record produced will get.
	End int64 `json:"end"`
	// Lag is the number of records the group has yet to process: End minus
	// Committed, or minus the log start offset when nothing was committed,
	// less the transaction markers among those offsets: all of them in a lag
	// of up to 1,000 offsets, which is then exact, and those before the first
	// record in a longer one (offsets are all the broker tells of the rest).
	// It is -1 when it could not be computed (see Err).
	Lag int64 `json:"lag"`
	// Age is how long ago the oldest unprocessed record (the first at or
	// after the committed offset) was produced, by its timestamp: 0 when Lag
	// is 0, -1 when the record could not be read in time.
	Age time.Duration `json:"age"`
	// Member is the client id and host of the group member that has the
	// partition ("" when no member has it: the agent is not running).
	Member string `json:"member,omitempty"`
	// Err is why the partition's offsets could not be read, or nil.
	Err error `json:"-"`
}

// Lag returns the lag of the consumer groups named groups (agents' names) on
// every partition they are assigned or have committed to, sorted by group,
// topic and partition, with the age of each lagging partition read from the
// record at its committed offset. A group that does not exist, or has
// committed nothing and runs no member, has no rows; without groups, Lag
// returns none (kadm's Lag would describe every group). It fails if the broker
// cannot be asked, with the group's error if one group cannot be described.
func Lag(ctx context.Context, cl *kgo.Client, groups ...string) ([]LagRow, error) {
	return lag(ctx, cl, groups, nil)
}

// GraphLag returns the lag of every agent of g as [Lag] does, and also a row
// for each partition of an agent's input streams and loop topic that the
// agent has not committed to: its lag counts every record from the log start, which is
// where an agent that never ran starts.
func GraphLag(ctx context.Context, cl *kgo.Client, g *topology.Graph) ([]LagRow, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil graph", ErrBadGraph)
	}
	return descriptionLag(ctx, cl, g.Description())
}

// descriptionLag is [GraphLag] of the graph d describes.
func descriptionLag(ctx context.Context, cl *kgo.Client, d topology.Description) ([]LagRow, error) {
	var groups []string
	expect := map[string][]string{}
	for _, a := range d.Agents {
		groups = append(groups, a.Group)
		expect[a.Group] = a.Inputs
		if a.Loop != "" {
			expect[a.Group] = append(expect[a.Group], a.Loop) // results and timers not yet applied
		}
	}
	return lag(ctx, cl, groups, expect)
}

// lag computes the rows of groups; expect names the topics each group should
// have a row for on every partition, committed or not.
func lag(ctx context.Context, cl *kgo.Client, groups []string, expect map[string][]string) ([]LagRow, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("lag of %q: %w", groups, err)
	}
	var rows []LagRow
	starts := map[string]map[int32]int64{}
	have := map[string]bool{}
	for _, l := range lags.Sorted() {
		if err := l.Error(); err != nil {
			if errors.Is(err, kerr.GroupIDNotFound) {
				continue // never committed, no member: nothing to show
			}
			return nil, fmt.Errorf("lag of group %q: %w", l.Group, err)
		}
		for _, m := range l.Lag.Sorted() {
			r := LagRow{
				Group: l.Group, Topic: m.Topic, Partition: m.Partition,
				Committed: m.Commit.At, End: m.End.Offset, Lag: m.Lag, Err: m.Err,
			}
			if m.Member != nil {
				r.Member = m.Member.ClientID + "/" + m.Member.ClientHost
			}
			if m.Commit.At < 0 {
				r.Committed = -1
			}
			rows = append(rows, r)
			have[rowKey(r.Group, r.Topic, r.Partition)] = true
			if starts[m.Topic] == nil {
				starts[m.Topic] = map[int32]int64{}
			}
			starts[m.Topic][m.Partition] = m.Start.Offset
		}
	}
	missing, err := uncommitted(ctx, adm, expect, have, starts)
	if err != nil {
		return nil, err
	}
	rows = append(rows, missing...)
	slices.SortFunc(rows, func(a, b LagRow) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	if err := readAges(ctx, cl, rows, starts); err != nil {
		return nil, err
	}
	return rows, nil
}

func rowKey(group, topic string, p int32) string {
	return group + "\x00" + topic + "\x00" + strconv.Itoa(int(p))
}

// uncommitted returns a row for each partition of the expected topics that has
// none in have, and records their start offsets in starts.
func uncommitted(ctx context.Context, adm *kadm.Client, expect map[string][]string, have map[string]bool, starts map[string]map[int32]int64) ([]LagRow, error) {
	var topics []string
	for _, ts := range expect {
		for _, t := range ts {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	if len(topics) == 0 {
		return nil, nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %q: %w", topics, err)
	}
	begins, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("start offsets of %q: %w", topics, err)
	}
	var rows []LagRow
	for group, ts := range expect {
		for _, topic := range ts {
			for p, end := range ends[topic] {
				if p < 0 || have[rowKey(group, topic, p)] {
					continue // p -1: the topic does not exist (yet)
				}
				r := LagRow{Group: group, Topic: topic, Partition: p, Committed: -1, End: end.Offset, Lag: -1, Err: end.Err}
				start, ok := begins.Lookup(topic, p)
				if end.Err == nil && ok && start.Err == nil {
					r.Lag = end.Offset - start.Offset
					if starts[topic] == nil {
						starts[topic] = map[int32]int64{}
					}
					starts[topic][p] = start.Offset
				} else if r.Err == nil {
					r.Err = start.Err
				}
				rows = append(rows, r)
			}
		}
	}
	return rows, nil
}

// readAges sets the Age of every row: 0 without lag, else the age of the first
// record at or after the committed offset (the log start when nothing was
// committed), -1 if it could not be read within ageTimeout. Transaction markers
// (an exactly-once producer writes one after each transaction) take offsets
// but are no records to process: those read are taken off the lag, which is
// all of them in a lag of up to [exactLag] offsets (so an agent that has
// processed every record of a transactional input has lag 0, not 1, and a lag
// that small is exact), and those before the first record of a longer one.
func readAges(ctx context.Context, cl *kgo.Client, rows []LagRow, starts map[string]map[int32]int64) error {
	want := map[topicPartition]span{}
	for i := range rows {
		r := &rows[i]
		if r.Lag <= 0 {
			r.Age = 0
			continue
		}
		r.Age = -1
		at := r.Committed
		if at < 0 {
			at = starts[r.Topic][r.Partition]
		}
		// Groups reading the same partition share one read, from the offset
		// of the last of them; the others' lag stays unknown in age.
		want[topicPartition{r.Topic, r.Partition}] = span{from: at, end: r.End}
	}
	if len(want) == 0 {
		return nil
	}
	heads, err := readHeads(ctx, cl, want)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range rows {
		r := &rows[i]
		tp := topicPartition{r.Topic, r.Partition}
		h, ok := heads[tp]
		if !ok || r.Lag <= 0 || want[tp].end-want[tp].from != r.Lag {
			continue
		}
		r.Lag = max(r.Lag-h.markers, 0)
		switch {
		case r.Lag == 0:
			r.Age = 0
		case !h.stamp.IsZero():
			r.Age = max(now.Sub(h.stamp), 0)
		}
	}
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// span is the offsets [from, end) of a partition.
type span struct{ from, end int64 }

// exactLag is the longest lag readAges reads whole to count the transaction
// markers in it; of a longer one it reads up to the first record.
const exactLag = 1000

// head is what a partition holds at the start of a span: the transaction
// markers read, and the timestamp of the first record that is no marker (zero
// when the span holds markers only).
type head struct {
	markers int64
	stamp   time.Time
}

// readHeads reads each span of want whole if it is at most exactLag offsets
// long, and up to its first record that is no marker otherwise. Partitions not
// read within ageTimeout are missing.
func readHeads(ctx context.Context, cl *kgo.Client, want map[topicPartition]span) (map[topicPartition]head, error) {
	offsets := map[string]map[int32]kgo.Offset{}
	for tp, sp := range want {
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.Offset{}
		}
		offsets[tp.topic][tp.partition] = kgo.NewOffset().At(sp.from)
	}
	// A reader connected as cl is (its seeds, TLS and SASL).
	reader, err := kgo.NewClient(append(cl.Opts(),
		kgo.ConsumePartitions(offsets),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(50*time.Millisecond),
		kgo.FetchMaxPartitionBytes(64<<10), // a short lag, or a long one's first records
	)...)
	if err != nil {
		return nil, fmt.Errorf("age reader: %w", err)
	}
	defer reader.Close()
	ctx, cancel := context.WithTimeout(ctx, ageTimeout)
	defer cancel()
	heads := make(map[topicPartition]head, len(want))
	done := map[topicPartition]bool{}
	for len(done) < len(want) && ctx.Err() == nil {
		reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			tp := topicPartition{r.Topic, r.Partition}
			if done[tp] {
				return
			}
			h, sp := heads[tp], want[tp]
			switch {
			case r.Attrs.IsControl():
				h.markers++
			case h.stamp.IsZero():
				h.stamp = r.Timestamp
			}
			heads[tp] = h
			long := sp.end-sp.from > exactLag
			if r.Offset+1 >= sp.end || long && !h.stamp.IsZero() {
				done[tp] = true
			}
		})
	}
	for tp := range heads {
		if !done[tp] {
			delete(heads, tp) // markers seen, but not the whole head: unknown
		}
	}
	return heads, nil
}
