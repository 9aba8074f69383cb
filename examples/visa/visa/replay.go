package visa

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/topology"
)

// ShadowGraph returns the pipeline of [Graph] for a shadow run: every topic,
// agent, consumer group, table and dead-letter topic is named as in production
// plus suffix (see [Names]), so that running it touches no production topic and
// no production consumer group's offsets. suffix must not be empty.
func ShadowGraph(d Decider, suffix string, levels ...string) (*topology.Graph, error) {
	if err := checkSuffix(suffix); err != nil {
		return nil, err
	}
	return graph(d, Names{Suffix: suffix}, Options{}, levels)
}

// shadowGraph is [ShadowGraph] with the concurrency of [GraphConcurrent].
func shadowGraph(d Decider, suffix string, concurrency int) (*topology.Graph, error) {
	if err := checkSuffix(suffix); err != nil {
		return nil, err
	}
	return graph(d, Names{Suffix: suffix}, Options{Concurrency: concurrency}, nil)
}

// ReplayConfig configures [Replay].
type ReplayConfig struct {
	// Brokers are the seed brokers of the cluster production runs on. Required.
	Brokers []string
	// From and To bound the window, by record timestamp on [Applications]:
	// records at From or later and before To are replayed.
	From, To time.Time
	// Suffix names the shadow run (see [Names]). Required.
	Suffix string
	// Decider is the decider of the shadow run: the new version to compare with
	// production. nil means [Rules].
	Decider Decider
	// Concurrency is the shadow levels' concurrency (see [GraphConcurrent]); 0
	// means 1.
	Concurrency int
	// DataDir holds the shadow levels' tables; "" means a temporary directory,
	// removed afterwards (the tables are rebuilt from their changelogs anyway).
	DataDir string
	// Wait bounds the wait for the shadow run's decisions; 0 means 2 minutes.
	Wait time.Duration
	// Options are more options for running the shadow graph (topology.WithLogger,
	// topology.Retries, ...); Brokers and DataDir are set by Replay.
	Options []topology.Option
	// Progress, if not nil, shows the shadow decisions coming in: a bar on a
	// terminal, log lines otherwise (see cli.StartProgress).
	Progress io.Writer
}

// Outcome is what became of an application in one run of the pipeline.
type Outcome struct {
	// Decision is the final decision, "dead-lettered", or "" if there is none.
	Decision string
	// Reasons are the final decision's, or the dead letter's error.
	Reasons []string
	// Levels is the path: the levels that handled the application, in order;
	// for a dead letter, the level that gave up.
	Levels []string
}

// String describes o in one line: "approved after A, B, D".
func (o Outcome) String() string {
	var what string
	switch {
	case o.Decision == "":
		return "no decision"
	case o.Decision == Approved:
		what = fmt.Sprintf("approved after %s", strings.Join(o.Levels, ", "))
	case len(o.Levels) > 0:
		what = fmt.Sprintf("%s at %s", o.Decision, o.Levels[len(o.Levels)-1])
	default:
		what = o.Decision
	}
	if len(o.Reasons) > 0 {
		what += ": " + strings.Join(o.Reasons, "; ")
	}
	return what
}

// Comparison is one replayed application's outcome in production and in the
// shadow run.
type Comparison struct {
	ID, VisaType       string
	Production, Shadow Outcome
}

// Differs reports whether the shadow run decided otherwise than production.
func (c Comparison) Differs() bool { return c.Production.Decision != c.Shadow.Decision }

// ReplayResult is what [Replay] found.
type ReplayResult struct {
	// Names are the shadow run's.
	Names    Names
	From, To time.Time
	// Replayed is the number of records copied from production's input to the
	// shadow run's.
	Replayed int
	// Comparisons are the replayed applications, by ID.
	Comparisons []Comparison
	// Missing are the IDs that had no outcome in the shadow run by the deadline.
	Missing []string
}

// Replay re-runs the applications production received between cfg.From and
// cfg.To through the current levels, with cfg.Decider, in a shadow run named by
// cfg.Suffix, and compares the outcomes with production's. Production's topics
// are only read, without a consumer group; every write goes to a shadow topic,
// and the shadow levels have their own consumer groups (see [ShadowGraph]).
//
// In order, Replay creates the shadow topics, copies production's routes into
// the shadow routing table (those of visa types it does not have yet: routes
// written there beforehand are kept, to try a change of routes), copies the
// window's application records to the shadow input (key, value, headers and
// timestamp as they are, so that levels see the same submission time), runs the
// shadow levels until each copied record has an outcome there (a final decision
// or a dead letter) or cfg.Wait passes, and reads production's outcomes. With
// records missing, it returns the result so far and an error.
//
// A second replay under the same suffix goes on where the first stopped: its
// shadow levels read only the records copied since, with their memory of the
// earlier ones.
func Replay(ctx context.Context, cfg ReplayConfig) (*ReplayResult, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("replay: no brokers")
	}
	if !cfg.From.Before(cfg.To) {
		return nil, fmt.Errorf("replay: the window from %s to %s is empty", cfg.From.Format(time.RFC3339), cfg.To.Format(time.RFC3339))
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 2 * time.Minute
	}
	g, err := shadowGraph(cfg.Decider, cfg.Suffix, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	prod, shadow := Names{}, Names{Suffix: cfg.Suffix}
	res := &ReplayResult{Names: shadow, From: cfg.From, To: cfg.To}

	connOpts := append(slices.Clone(cfg.Options), topology.Brokers(cfg.Brokers...))
	conn, err := topology.ClientOptions(connOpts...)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := topology.Provision(ctx, g, connOpts...); err != nil {
		return nil, fmt.Errorf("replay: create shadow topics: %w", err)
	}
	if err := copyRoutes(ctx, cl, conn, prod, shadow); err != nil {
		return nil, fmt.Errorf("replay: copy routes: %w", err)
	}
	outcomes := append([]string{shadow.Final()}, deadLetterTopics(shadow)...)
	from, err := adm.ListEndOffsets(ctx, outcomes...)
	if err == nil {
		err = from.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("replay: list shadow end offsets: %w", err)
	}

	// Copy the window.
	recs, err := window(ctx, conn, adm, prod.Applications(), cfg.From, cfg.To)
	if err != nil {
		return nil, fmt.Errorf("replay: read %s: %w", prod.Applications(), err)
	}
	expect := map[string]int{} // ID -> records copied
	types := map[string]string{}
	var copies []*kgo.Record
	for _, r := range recs {
		id := string(r.Key)
		expect[id]++
		var app Application
		if json.Unmarshal(r.Value, &app) == nil {
			types[id] = app.VisaType
		}
		copies = append(copies, &kgo.Record{Topic: shadow.Applications(), Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	if err := cl.ProduceSync(ctx, copies...).FirstErr(); err != nil {
		return nil, fmt.Errorf("replay: copy to %s: %w", shadow.Applications(), err)
	}
	res.Replayed = len(copies)
	if len(copies) == 0 {
		return res, nil
	}

	// Run the shadow levels until every copy has an outcome.
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "visa-replay-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	waitCtx, stopWait := context.WithTimeout(ctx, cfg.Wait)
	defer stopWait()
	runDone := make(chan error, 1)
	go func() {
		err := topology.Run(runCtx, g, append(slices.Clone(cfg.Options), topology.Brokers(cfg.Brokers...), topology.DataDir(dir))...)
		stopWait() // a run that ends by itself failed: stop waiting
		runDone <- err
	}()
	got := map[string][]Outcome{}
	var bar *cli.Progress
	if cfg.Progress != nil {
		bar = cli.StartProgress(cfg.Progress, "replay: shadow decisions", int64(len(copies)))
	}
	followErr := follow(waitCtx, conn, from, func(r *kgo.Record) {
		id := string(r.Key)
		if expect[id] > len(got[id]) {
			got[id] = append(got[id], outcomeOf(r, shadow))
			if bar != nil {
				bar.Add(1)
			}
		}
	}, func() bool {
		for id, n := range expect {
			if len(got[id]) < n {
				return false
			}
		}
		return true
	})
	if bar != nil {
		bar.Done()
	}
	stopRun()
	runErr := <-runDone
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("replay interrupted: %w", err)
	}
	if runErr != nil {
		return nil, fmt.Errorf("replay: shadow run: %w", runErr)
	}

	// Production's outcomes of the same applications.
	prodOut, err := lastOutcomes(ctx, conn, prod, expect)
	if err != nil {
		return nil, fmt.Errorf("replay: read production outcomes: %w", err)
	}
	for id, n := range expect {
		c := Comparison{ID: id, VisaType: types[id], Production: prodOut[id]}
		if len(got[id]) < n {
			res.Missing = append(res.Missing, id)
		} else {
			c.Shadow = got[id][n-1]
		}
		res.Comparisons = append(res.Comparisons, c)
	}
	slices.SortFunc(res.Comparisons, func(a, b Comparison) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(res.Missing)
	if followErr != nil || len(res.Missing) > 0 {
		return res, fmt.Errorf("replay: %d of %d applications have no outcome in the shadow run after %v", len(res.Missing), len(expect), cfg.Wait)
	}
	return res, nil
}

// WriteDiff writes the result to w: a summary line, then each application the
// shadow run decided otherwise than production, with both outcomes, then those
// without a shadow outcome.
func (r *ReplayResult) WriteDiff(w io.Writer) error {
	differ, reasons := 0, 0
	for _, c := range r.Comparisons {
		switch {
		case slices.Contains(r.Missing, c.ID):
		case c.Differs():
			differ++
		case c.Shadow.Decision != "dead-lettered" && !slices.Equal(c.Production.Reasons, c.Shadow.Reasons):
			reasons++ // dead letters' errors name their topics, which differ
		}
	}
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "replayed %d records of %s from %s to %s through shadow run %q\n",
		r.Replayed, Applications.Name, r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Names.Suffix)
	fmt.Fprintf(bw, "%d applications: %d decided alike, %d differently", len(r.Comparisons), len(r.Comparisons)-differ-len(r.Missing), differ)
	if reasons > 0 {
		fmt.Fprintf(bw, " (%d alike with other reasons)", reasons)
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(bw, ", %d without a shadow outcome", len(r.Missing))
	}
	fmt.Fprintln(bw)
	for _, c := range r.Comparisons {
		if !c.Differs() || slices.Contains(r.Missing, c.ID) {
			continue
		}
		fmt.Fprintf(bw, "\n%s (%s): %s -> %s\n", c.ID, cmp.Or(c.VisaType, "?"), cmp.Or(c.Production.Decision, "none"), c.Shadow.Decision)
		fmt.Fprintf(bw, "  production: %s\n", c.Production)
		fmt.Fprintf(bw, "  shadow:     %s\n", c.Shadow)
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(bw, "\nno outcome in the shadow run: %s\n", strings.Join(r.Missing, ", "))
	}
	return bw.err
}

// errWriter keeps the first error of its writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// deadLetterTopics returns the dead-letter topics of every level in n.
func deadLetterTopics(n Names) []string {
	var out []string
	for _, l := range Levels {
		out = append(out, n.DeadLetters(l.Name))
	}
	return out
}

// outcomeOf returns the outcome r, a record of n's final or dead-letter
// topics, records.
func outcomeOf(r *kgo.Record, n Names) Outcome {
	if r.Topic == n.Final() {
		var f FinalDecision
		if err := json.Unmarshal(r.Value, &f); err != nil {
			return Outcome{Decision: "unreadable", Reasons: []string{err.Error()}}
		}
		o := Outcome{Decision: f.Decision, Reasons: f.Reasons}
		for _, s := range f.Path {
			o.Levels = append(o.Levels, s.Level)
		}
		return o
	}
	o := Outcome{Decision: "dead-lettered", Reasons: []string{header(r, topology.HeaderError)}}
	for _, l := range Levels {
		if r.Topic == n.DeadLetters(l.Name) {
			o.Levels = []string{l.Name}
		}
	}
	return o
}

// copyRoutes copies the routes of from's routing table that to's does not have
// into to's.
func copyRoutes(ctx context.Context, cl *kgo.Client, conn []kgo.Opt, from, to Names) error {
	src, err := tableContents(ctx, conn, from.Routes())
	if err != nil {
		return err
	}
	dst, err := tableContents(ctx, conn, to.Routes())
	if err != nil {
		return err
	}
	var recs []*kgo.Record
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			recs = append(recs, &kgo.Record{Topic: to.Routes(), Key: []byte(k), Value: v})
		}
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// tableContents returns the latest value of every key of the compacted topic,
// without the deleted ones.
func tableContents(ctx context.Context, conn []kgo.Opt, topic string) (map[string][]byte, error) {
	spans, err := allSpans(ctx, conn, topic)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	err = scan(ctx, conn, spans, func(r *kgo.Record) {
		if r.Value == nil {
			delete(out, string(r.Key))
		} else {
			out[string(r.Key)] = r.Value
		}
	})
	return out, err
}

// allSpans returns the spans of every partition of the topics that exist.
func allSpans(ctx context.Context, conn []kgo.Opt, topics ...string) (map[string]map[int32]span, error) {
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	counts, err := partitionCounts(ctx, adm, topics)
	if err != nil {
		return nil, err
	}
	parts := map[string][]int32{}
	for t, n := range counts {
		for p := range n {
			parts[t] = append(parts[t], p)
		}
	}
	return listSpans(ctx, adm, parts)
}

// window returns the records of topic whose timestamps are in [from, to), in
// offset order per partition. It reads each partition from the first offset
// Kafka finds at or after from to the first at or after to.
func window(ctx context.Context, conn []kgo.Opt, adm *kadm.Client, topic string, from, to time.Time) ([]*kgo.Record, error) {
	starts, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListOffsetsAfterMilli(ctx, to.UnixMilli(), topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	spans := map[string]map[int32]span{topic: {}}
	starts.Each(func(s kadm.ListedOffset) {
		if e, ok := ends.Lookup(topic, s.Partition); ok && s.Offset >= 0 && s.Offset < e.Offset {
			spans[topic][s.Partition] = span{s.Offset, e.Offset}
		}
	})
	var out []*kgo.Record
	err = scan(ctx, conn, spans, func(r *kgo.Record) {
		if !r.Timestamp.Before(from) && r.Timestamp.Before(to) {
			out = append(out, r)
		}
	})
	return out, err
}

// follow reads topics from the offsets in from (their end offsets, listed
// before), calling each with every record, until done reports true or ctx ends.
func follow(ctx context.Context, conn []kgo.Opt, from kadm.ListedOffsets, each func(*kgo.Record), done func() bool) error {
	offsets := map[string]map[int32]kgo.Offset{}
	from.Each(func(o kadm.ListedOffset) {
		if offsets[o.Topic] == nil {
			offsets[o.Topic] = map[int32]kgo.Offset{}
		}
		offsets[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	cl, err := kgo.NewClient(append(slices.Clone(conn), kgo.ConsumePartitions(offsets),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		fs.EachRecord(each)
	}
	return nil
}

// fetchError returns the first error of fs that retrying cannot fix; the client
// retries the others itself.
func fetchError(fs kgo.Fetches) error {
	for _, fe := range fs.Errors() {
		var ke *kerr.Error
		if errors.As(fe.Err, &ke) && ke.Retriable {
			continue
		}
		return fmt.Errorf("read %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
	}
	return nil
}

// lastOutcomes returns the latest outcome, in n's final and dead-letter topics,
// of each application in ids.
func lastOutcomes(ctx context.Context, conn []kgo.Opt, n Names, ids map[string]int) (map[string]Outcome, error) {
	topics := append([]string{n.Final()}, deadLetterTopics(n)...)
	spans, err := allSpans(ctx, conn, topics...)
	if err != nil {
		return nil, err
	}
	type timed struct {
		o Outcome
		t time.Time
	}
	last := map[string]timed{}
	err = scan(ctx, conn, spans, func(r *kgo.Record) {
		id := string(r.Key)
		if _, ok := ids[id]; !ok {
			return
		}
		if prev, ok := last[id]; !ok || !r.Timestamp.Before(prev.t) {
			last[id] = timed{outcomeOf(r, n), r.Timestamp}
		}
	})
	out := map[string]Outcome{}
	for id, t := range last {
		out[id] = t.o
	}
	return out, err
}
