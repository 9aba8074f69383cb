package topology

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/connect"
)

// Freshness says how current a [View]'s local copy is: what a lookup service
// tells its callers beside each answer.
type Freshness struct {
	// Recovered is [View.Recovered]: the copy has caught up with the table
	// once, and is served.
	Recovered bool
	// Heard is the last time the view heard from the broker: when it last
	// read the end offsets of the table's changelog, every [ProbeInterval]
	// while the broker answers. The zero time means never (a view that never
	// recovered, or none is running). Every update written before Heard
	// that the copy lacked then is counted in Lag.
	Heard time.Time
	// Lag is the number of changelog offsets written before Heard that the
	// copy lacks, summed over partitions: 0 means it has every update
	// written before Heard. It is an upper bound of the updates missing
	// (compaction leaves gaps in the offsets), and -1 when unknown (not
	// heard in this Run).
	Lag int64
}

// Age returns how long before now the view last heard from the broker; the
// copy may lack updates written since. It returns -1 if it never heard.
func (f Freshness) Age(now time.Time) time.Duration {
	if f.Heard.IsZero() {
		return -1
	}
	return max(now.Sub(f.Heard), 0)
}

// ProbeInterval is how often a running [View] asks the broker for the end
// offsets of its table, to know how current its copy is ([View.Freshness]).
// The lag behind them is brought up to date every 10 ms.
const ProbeInterval = 500 * time.Millisecond

// probeTimeout bounds one probe; a broker that does not answer within it
// has not been heard.
const probeTimeout = 5 * time.Second

// freshness holds what a view knows of its copy's currency; safe for
// concurrent use.
type freshness struct {
	heard atomic.Int64                    // Unix nanoseconds; 0 for never
	ends  atomic.Pointer[map[int32]int64] // the end offsets heard then; nil for none in this Run
	lag   atomic.Int64                    // of the copy behind ends, updated by View.watch; -1 for unknown
	prior atomic.Bool                     // the storage recovered in an earlier Run and still holds it
}

func (f *freshness) reset(st viewState) {
	f.heard.Store(0)
	if !st.Heard.IsZero() {
		f.heard.Store(st.Heard.UnixNano())
	}
	f.ends.Store(nil)
	f.lag.Store(-1)
	f.prior.Store(false)
}

func (f *freshness) heardAt() time.Time {
	if ns := f.heard.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// prober asks the broker for the end offsets of a table's changelog.
type prober struct {
	adm         *kadm.Client
	cl          *kgo.Client
	table       string
	exactlyOnce bool
}

func newProber(brokers []string, cfg *sarama.Config, table string, exactlyOnce bool) (*prober, error) {
	cl, err := connect.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("view of %q: freshness client: %w", table, err)
	}
	return &prober{adm: kadm.NewClient(cl), cl: cl, table: table, exactlyOnce: exactlyOnce}, nil
}

func (p *prober) close() { p.cl.Close() }

// ends returns the offset after the last record of each partition: the last
// stable offset in exactly-once mode, where the view reads committed records
// only (and transaction markers set its offsets; see gokax.kconsumer).
func (p *prober) ends(ctx context.Context) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	list := p.adm.ListEndOffsets
	if p.exactlyOnce {
		list = p.adm.ListCommittedOffsets
	}
	offs, err := list(ctx, p.table)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// lagOf returns how many offsets a copy whose partitions hold up to local
// (the offset of each one's last record, -1 for none) lacks of ends; -1 if a
// partition of ends is not in local.
func lagOf(ends, local map[int32]int64) int64 {
	var lag int64
	for p, end := range ends {
		at, ok := local[p]
		if !ok {
			return -1
		}
		lag += max(end-(at+1), 0)
	}
	return lag
}
