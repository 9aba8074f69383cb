package topology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/gokax"
)

// localCopy is a view's recovered local storage, read directly, without
// goka: what [View.Run] answers from while the broker cannot be reached and
// goka's view (which asks the broker for the table's partitions) cannot be
// built. Read-only; its partitions are those of the state file.
type localCopy struct {
	parts []storage.Storage // by partition
	keys  []string          // a key of each partition, for [localCopy.waitReadable]
}

// openLocalCopy opens the storage of every partition st records, with b (the
// builder goka's view uses), if st says the storage recovered and it still
// holds what st recorded ([viewState.holds]); nil otherwise (a wiped or
// never-recovered copy).
func openLocalCopy(b storage.Builder, table string, st viewState) (*localCopy, error) {
	n := len(st.Offsets)
	if !st.Recovered || n == 0 {
		return nil, nil
	}
	for p := range n {
		if _, ok := st.Offsets[strconv.Itoa(p)]; !ok {
			return nil, nil // not partitions 0 .. n-1: not a copy of the whole table
		}
	}
	lc := &localCopy{}
	offsets := make(map[int32]int64, n)
	for p := range int32(n) {
		s, err := b(table, p)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("local copy: partition %d: %w", p, err), lc.close())
		}
		lc.parts = append(lc.parts, s)
		if err := s.Open(); err != nil {
			return nil, errors.Join(fmt.Errorf("local copy: partition %d: %w", p, err), lc.close())
		}
		if offsets[p], err = s.GetOffset(-1); err != nil {
			return nil, errors.Join(fmt.Errorf("local copy: partition %d: %w", p, err), lc.close())
		}
	}
	if !st.holds(offsets, n) {
		return nil, lc.close()
	}
	lc.keys = make([]string, n)
	for i, found := 0, 0; found < n; i++ {
		k := strconv.Itoa(i)
		if p := gokax.Partition([]byte(k), int32(n)); lc.keys[p] == "" {
			lc.keys[p] = k
			found++
		}
	}
	return lc, nil
}

// get returns the value of key and its record time, nil if the copy has
// none. Its partition is the one goka's view reads it from: [gokax.Hasher]'s
// hash (sign bit cleared) modulo the partitions.
func (lc *localCopy) get(key string) ([]byte, time.Time, error) {
	b, err := lc.parts[gokax.Partition([]byte(key), int32(len(lc.parts)))].Get(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	return gokax.Unstamp(b)
}

// close closes every partition's storage opened.
func (lc *localCopy) close() error {
	var errs []error
	for _, s := range lc.parts {
		errs = append(errs, s.Close())
	}
	lc.parts = nil
	return errors.Join(errs...)
}

// waitReadable waits until gv, which runs and opens the storage lc had
// open, answers a read of every partition, or gv stopped (done has its
// error, left there), or ctx is done. goka's merged view state may say
// readable a moment before every partition is: a read of each is the proof.
func (lc *localCopy) waitReadable(ctx context.Context, gv *gokax.View, done chan error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for p := 0; p < len(lc.keys); {
		if _, _, err := gv.GetStamped(lc.keys[p]); err == nil {
			p++
			continue
		}
		select {
		case err := <-done:
			done <- err
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// buildRetrying builds goka's view of the table while Run answers from a
// local copy: it asks the broker for the table's end offsets (which, unlike
// building the view, stops with ctx) until it answers, with backoff, then
// builds the view. It logs one line when the broker cannot be reached and
// one when it answers again. It returns nil, nil when ctx is done first,
// and an error for a refused credential or certificate, or when the broker
// answered and the view could not be built all the same (the table's topic
// is gone).
func (v *View[T]) buildRetrying(ctx context.Context, o gokax.Options, probe *prober) (*gokax.View, error) {
	const maxWait = 5 * time.Second
	wait := 100 * time.Millisecond
	unreachable := false
	for {
		_, err := probe.ends(ctx)
		if ctx.Err() != nil {
			return nil, nil
		}
		if err = checkConnection(err); errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTLS) {
			return nil, fmt.Errorf("view of %q: %w", v.table.Name, err)
		}
		if err == nil || !brokerDown(err) {
			gv, err := v.build(ctx, o, probe)
			if err != nil {
				return nil, err
			}
			if unreachable {
				v.c.logger.Info("view: the broker answers again: following the changelog", "topic", v.table.Name)
			}
			return gv, nil
		}
		if !unreachable {
			unreachable = true
			v.c.logger.Warn("view: cannot reach the broker: answering from the local copy until it can",
				"topic", v.table.Name, "heard", v.fresh.heardAt(), "error", err)
		} else {
			v.c.logger.Debug("view: the broker still does not answer", "topic", v.table.Name, "error", err, "in", wait)
		}
		if !sleep(ctx, wait) {
			return nil, nil
		}
		wait = min(2*wait, maxWait)
	}
}

// build builds goka's view of the table. goka flattens the errors of its
// clients to text: when it fails, one request of probe says whether the
// broker refused the view's credentials or certificate, and Run's error says
// so ([ErrAuthentication], [ErrTLS]).
func (v *View[T]) build(ctx context.Context, o gokax.Options, probe *prober) (*gokax.View, error) {
	gv, err := gokax.NewView(v.table.Name, o, gokax.StampValues())
	if err == nil {
		return gv, nil
	}
	_, perr := probe.ends(ctx)
	if perr = checkConnection(perr); errors.Is(perr, ErrAuthentication) || errors.Is(perr, ErrTLS) {
		return nil, fmt.Errorf("view of %q: %w", v.table.Name, perr)
	}
	return nil, checkConnection(err)
}

// brokerDown reports whether err, from a request to the cluster, says it
// could not be reached or is not ready to answer: anything but an answer
// with an error Kafka marks non-retriable, or one saying the topic does not
// exist.
func brokerDown(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return true
	}
	return ke.Retriable && !errors.Is(err, kerr.UnknownTopicOrPartition)
}
