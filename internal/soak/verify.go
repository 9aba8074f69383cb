package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// VerifyConfig configures [Verify].
type VerifyConfig struct {
	Brokers []string
	// Namespace prefixes every topic and agent name (see [Config]);
	// Security is how to reach a secured cluster.
	Namespace string
	Security  topology.Security
	Mode      Mode
	// Sent is what the generator had acknowledged; nil means the input.
	Sent Sent
	// DataDir holds the local copies of the tables; required.
	DataDir string
	// Out receives a few lines of detail; nil discards them.
	Out    io.Writer
	Logger *slog.Logger
}

// quiet is how long a topic read waits for more records before it takes a
// partition that has not reached its end offset as read: with transactions,
// the end offset may be a commit marker that no record ever reaches.
const quiet = 3 * time.Second

// Verify reads [Input], [Output] and the agents' tables (through
// [topology.View], as the agents recover them) to their ends, and returns
// what [Check] finds. Run it after the agents have stopped. It writes a
// summary and the first problems to cfg.Out.
func Verify(ctx context.Context, cfg VerifyConfig) (Counts, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.DataDir == "" {
		return Counts{}, errors.New("verify: no data dir for the tables")
	}
	conn, err := topology.ClientOptions(topology.Brokers(cfg.Brokers...), topology.WithSecurity(cfg.Security))
	if err != nil {
		return Counts{}, err
	}
	in, _, out := streams(cfg.Namespace)
	input, err := ReadLog(ctx, conn, in.Name)
	if err != nil {
		return Counts{}, err
	}
	output, err := ReadLog(ctx, conn, out.Name)
	if err != nil {
		return Counts{}, err
	}
	keys := map[string]bool{}
	for k := range input {
		keys[k] = true
	}
	for k := range cfg.Sent {
		keys[k] = true
	}
	tables := map[string]map[string]Tally{}
	var unreadable []string
	for _, agent := range Agents() {
		tables[agent], err = readTable(ctx, cfg, agent, sortedKeys(keys))
		if errors.Is(err, errNotRecovered) {
			// Every entry counts as missing: the table cannot be read.
			unreadable = append(unreadable, err.Error())
			tables[agent], err = map[string]Tally{}, nil
		}
		if err != nil {
			return Counts{}, err
		}
	}
	c := Check(cfg.Mode, cfg.Sent, input, output, tables)
	c.Problems = append(unreadable, c.Problems...)
	fmt.Fprintf(cfg.Out, "input: %d records acknowledged, %d in %s (%d repeated by producer retries)\n",
		c.Sent, c.InputRecords, in.Name, c.InputRepeats)
	fmt.Fprintf(cfg.Out, "output: %d records in %s: %d lost, %d reordered, %d duplicates, %d spurious\n",
		c.OutputRecords, out.Name, c.Lost, c.Reordered, c.Duplicates, c.Spurious)
	fmt.Fprintf(cfg.Out, "tables %v: %d keys each, %d entries break %s's promise, %d over-counted\n",
		Agents(), len(keys), c.TableMismatches, cfg.Mode, c.TableOvercounts)
	for _, p := range c.Problems {
		fmt.Fprintln(cfg.Out, "  "+p)
	}
	return c, nil
}

// recoverTimeout bounds the recovery of a table's view: the agents have
// stopped, so the changelog no longer grows, and both tables must fit in the
// minute [Run] keeps for verifying.
const recoverTimeout = 20 * time.Second

// errNotRecovered means a table's view did not catch up with its changelog,
// for example because an open transaction holds its last stable offset back.
var errNotRecovered = errors.New("view did not recover")

// readTable returns the entries of keys in the table of agent, read through
// a [topology.View] recovered from its changelog.
func readTable(ctx context.Context, cfg VerifyConfig, agent string, keys []string) (map[string]Tally, error) {
	opts := append(cfg.Mode.options(), topology.Brokers(cfg.Brokers...), topology.WithSecurity(cfg.Security),
		topology.DataDir(filepath.Join(cfg.DataDir, agent)), topology.WithLogger(cfg.Logger))
	v, err := topology.NewView(Table(cfg.Namespace+agent), opts...)
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(vctx) }()
	defer func() {
		cancel()
		<-done
	}()
	rctx, rcancel := context.WithTimeout(ctx, recoverTimeout)
	defer rcancel()
	if err := v.WaitRecovered(rctx); err != nil {
		return nil, fmt.Errorf("table of %s: %w within %v (%v)", agent, errNotRecovered, recoverTimeout, err)
	}
	out := make(map[string]Tally, len(keys))
	for _, k := range keys {
		t, ok, err := v.Get(k)
		if err != nil {
			return nil, fmt.Errorf("table of %s: %w", agent, err)
		}
		if ok {
			out[k] = t
		}
	}
	return out, nil
}

// ReadLog reads topic, a stream of [Event]s, from its start to its end offsets
// (committed records only) and returns each key's sequence numbers in order.
// conn says how to reach the cluster (topology.ClientOptions). A record that
// is not an Event is an error.
func ReadLog(ctx context.Context, conn []kgo.Opt, topic string) (Log, error) {
	cl, err := kgo.NewClient(append(slices.Clone(conn),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	next := map[int32]int64{}
	done := func() bool {
		return !slices.ContainsFunc(ends.Offsets().Sorted(), func(o kadm.Offset) bool { return next[o.Partition] < o.At })
	}
	log := Log{}
	var bad error
	last := time.Now()
	for !done() {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read %s: %w", topic, ctx.Err())
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			next[r.Partition] = r.Offset + 1
			var e Event
			if err := json.Unmarshal(r.Value, &e); err != nil || e.Key != string(r.Key) {
				bad = errors.Join(bad, fmt.Errorf("%s/%d@%d: %q is not an event of key %q", topic, r.Partition, r.Offset, r.Value, r.Key))
				return
			}
			log[e.Key] = append(log[e.Key], e.Seq)
		})
		if n > 0 {
			last = time.Now()
		} else if time.Since(last) > quiet {
			break // only transaction markers left before the end offsets
		}
	}
	if bad != nil {
		return nil, bad
	}
	return log, nil
}
