package visa

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// Event kinds of a journey: what a record on a pipeline topic is.
const (
	// EventReceived is the application on the input topic.
	EventReceived = "received"
	// EventQueued is the document on a scrutiny queue: the level that wrote it
	// passed the application on.
	EventQueued = "queued"
	// EventFinal is the final decision.
	EventFinal = "final"
	// EventDeadLetter is the record on a level's dead-letter topic: the level
	// gave up on it.
	EventDeadLetter = "dead-letter"
	// EventReport is a level's report to the desk (see [Options]): it sent
	// the application on, or ended its path.
	EventReport = "report"
	// EventReview is a reviewer's decision on [Reviews].
	EventReview = "review"
	// EventDesk is an event of the desk on [DeskEvents]; its Decision is the
	// event's kind (sla_exceeded, awaiting_review, ...).
	EventDesk = "desk"
	// EventTimers is a change of an agent's timers of the application (its
	// timers topic): Reasons list the timers then pending.
	EventTimers = "timers"
	// EventRetry is the document on a level's retry queue: the level asks
	// again after its retry timer fired.
	EventRetry = "retry"
)

// Event is one record of an application's journey through the pipeline, as
// the durable topics hold it.
type Event struct {
	// Kind is [EventReceived], [EventQueued], [EventFinal] or [EventDeadLetter].
	Kind      string
	Topic     string
	Partition int32
	Offset    int64
	// Time is the record's timestamp.
	Time time.Time
	// Level is the level that wrote the record ("" for the received
	// application); Next is the level that reads it ("" for a final decision
	// or a dead letter).
	Level, Next string
	// Decision is the writer's finding (pass for a queued document), the final
	// decision, or "dead-lettered".
	Decision string
	// Reasons are the finding's, the final decision's, or the dead letter's
	// error.
	Reasons []string
	// Slip is what is left of the routing slip of a queued document.
	Slip []string
	// Err says why the record's value could not be read, if it could not.
	Err string

	seq int // the position on the path, to order records of one instant
}

// Trace returns the journey of the application id through the pipeline named n
// on the cluster that cluster names (topology.Brokers and
// topology.WithSecurity): every record keyed by id on its input, its
// scrutiny queues, its final topic and its levels' dead-letter topics, in time
// order (and path order within one millisecond). It reads the topics
// themselves, nothing else: one partition of each, the one the id's key hashes
// to ([topology.Partition]: Kafka's default partitioner, as every sluice
// agent and every Kafka client partition by key), from its start to its end offset.
// A topic that does not exist is skipped.
func Trace(ctx context.Context, cluster []topology.Option, n Names, id string) ([]Event, error) {
	conn, err := topology.ClientOptions(cluster...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	topics := n.topics()
	parts, err := partitionCounts(ctx, kadm.NewClient(cl), topics)
	if err != nil {
		return nil, err
	}
	want := map[string][]int32{}
	for _, t := range topics {
		if np, ok := parts[t]; ok {
			want[t] = []int32{topology.Partition(id, np)}
		}
	}
	spans, err := listSpans(ctx, kadm.NewClient(cl), want)
	if err != nil {
		return nil, err
	}
	var events []Event
	err = scan(ctx, conn, spans, func(r *kgo.Record) {
		if string(r.Key) == id {
			events = append(events, n.event(r))
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(events, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.seq, b.seq))
	})
	return events, nil
}

// topics returns every topic of the pipeline named n that a journey may touch,
// in path order: input, scrutiny queues, final, dead-letter topics.
func (n Names) topics() []string {
	out := []string{n.Applications()}
	for _, l := range Levels[1:] {
		out = append(out, n.Queue(l.Name))
	}
	out = append(out, n.Final())
	for _, l := range Levels {
		out = append(out, n.DeadLetters(l.Name))
	}
	out = append(out, n.Topic(Reports.Name), n.Topic(Reviews.Name), n.Topic(DeskEvents.Name),
		topology.TimersName(n.Topic(DeskAgent)))
	for _, l := range Levels {
		out = append(out, n.Topic(RetryQueueName(l.Name)), topology.TimersName(n.Agent(l.Name)))
	}
	return out
}

// event returns what r, a record of one of n's topics, says of its key.
func (n Names) event(r *kgo.Record) Event {
	e := Event{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp}
	switch r.Topic {
	case n.Applications():
		e.Kind, e.Next = EventReceived, "A"
		var app Application
		if err := json.Unmarshal(r.Value, &app); err != nil {
			e.Err = "not an application: " + err.Error()
		}
		return e
	case n.Final():
		e.Kind = EventFinal
		var f FinalDecision
		if err := json.Unmarshal(r.Value, &f); err != nil {
			e.Err = err.Error()
			return e
		}
		e.Decision, e.Reasons, e.seq = f.Decision, f.Reasons, 2*len(f.Path)
		if len(f.Path) > 0 {
			e.Level = f.Path[len(f.Path)-1].Level
		}
		return e
	}
	for _, l := range Levels {
		switch r.Topic {
		case n.Queue(l.Name):
			e.Kind, e.Next = EventQueued, l.Name
			var d Document
			if err := json.Unmarshal(r.Value, &d); err != nil {
				e.Err = err.Error()
			} else if len(d.Path) > 0 {
				s := d.Path[len(d.Path)-1]
				e.Level, e.Decision, e.Reasons, e.Slip, e.seq = s.Level, s.Finding.Decision, s.Finding.Reasons, d.Slip, 2*len(d.Path)
			}
			return e
		case n.DeadLetters(l.Name):
			e.Kind, e.Level, e.Decision = EventDeadLetter, l.Name, "dead-lettered"
			e.Reasons = []string{header(r, topology.HeaderError)}
			e.seq = 1 // after the received application
			var d Document
			if header(r, topology.HeaderTopic) != n.Applications() && json.Unmarshal(r.Value, &d) == nil {
				e.seq = 2*len(d.Path) + 1 // after the queued document
			}
			return e
		}
	}
	return n.deskEvent(r, e)
}

// deskEvent returns what r, a record of the desk's topics, a retry queue or
// a timers topic of n, says of its key.
func (n Names) deskEvent(r *kgo.Record, e Event) Event {
	switch r.Topic {
	case n.Topic(Reports.Name):
		e.Kind = EventReport
		var rp Report
		if err := json.Unmarshal(r.Value, &rp); err != nil {
			e.Err = err.Error()
			return e
		}
		e.Level, e.seq = rp.Level, 2*len(rp.Path)+1
		if rp.Kind == "routed" {
			e.Next, e.Decision = rp.Next, "routed"
		} else if rp.Outcome != nil {
			e.Decision, e.Reasons, e.Next = rp.Outcome.Decision, rp.Outcome.Reasons, "desk"
		}
		return e
	case n.Topic(Reviews.Name):
		e.Kind, e.Level, e.Next, e.seq = EventReview, ReviewLevel, "desk", 1000
		var rd ReviewDecision
		if err := json.Unmarshal(r.Value, &rd); err != nil {
			e.Err = err.Error()
			return e
		}
		e.Decision, e.Reasons = rd.Decision, []string{orSomeone(rd.Reviewer) + ": " + rd.Comment}
		return e
	case n.Topic(DeskEvents.Name):
		e.Kind, e.Level, e.seq = EventDesk, "desk", 1001
		var de DeskEvent
		if err := json.Unmarshal(r.Value, &de); err != nil {
			e.Err = err.Error()
			return e
		}
		e.Decision, e.Reasons = de.Kind, de.Reasons
		if de.Level != "" && de.Level != ReviewLevel {
			e.Reasons = append([]string{"level " + de.Level}, e.Reasons...)
		}
		return e
	case topology.TimersName(n.Topic(DeskAgent)):
		return timersEvent(r, e, "desk")
	}
	for _, l := range Levels {
		switch r.Topic {
		case n.Topic(RetryQueueName(l.Name)):
			e.Kind, e.Level, e.Next = EventRetry, l.Name, l.Name
			var rd RetryDoc
			if err := json.Unmarshal(r.Value, &rd); err != nil {
				e.Err = err.Error()
				return e
			}
			e.Decision, e.Reasons, e.seq = fmt.Sprintf("attempt %d", rd.Attempt), []string{rd.Reason}, 2*len(rd.Doc.Path)+1
			return e
		case topology.TimersName(n.Agent(l.Name)):
			return timersEvent(r, e, l.Name)
		}
	}
	e.Kind = "unknown"
	return e
}

// timersEvent describes a record of an agent's timers topic: the key's
// timers after a change, each as "NAME at TIME".
func timersEvent(r *kgo.Record, e Event, who string) Event {
	e.Kind, e.Level, e.seq = EventTimers, who, 999
	if r.Value == nil {
		e.Decision = "none pending"
		return e
	}
	var set struct {
		Timers []struct {
			Name string `json:"name"`
			At   int64  `json:"at"`
		} `json:"timers"`
		Fired []struct {
			Name string `json:"name"`
		} `json:"fired"`
	}
	if err := json.Unmarshal(r.Value, &set); err != nil {
		e.Err = err.Error()
		return e
	}
	e.Decision = fmt.Sprintf("%d pending", len(set.Timers))
	if len(set.Fired) > 0 { // at-least-once: kept until the firing's writes are acknowledged
		e.Decision += fmt.Sprintf(", %d fired", len(set.Fired))
	}
	for _, t := range set.Timers {
		e.Reasons = append(e.Reasons, t.Name+" at "+time.Unix(0, t.At).UTC().Format("15:04:05.000"))
	}
	return e
}

// header returns the value of r's header key, "" if it has none.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// WriteTrace writes the journey of the application id, from [Trace], to w as a
// table: one line per record, in order, then the outcome.
func WriteTrace(w io.Writer, id string, events []Event) error {
	if len(events) == 0 {
		_, err := fmt.Fprintf(w, "no record of application %q on any pipeline topic\n", id)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TIME\tTOPIC\tPARTITION@OFFSET\tLEVEL\tEVENT\tDECISION\tREASONS\n")
	for _, e := range events {
		level := e.Level
		switch {
		case e.Next != "" && level != "":
			level += " -> " + e.Next
		case e.Next != "":
			level = "-> " + e.Next
		}
		what := e.Kind
		if e.Kind == EventQueued && len(e.Slip) > 0 {
			var rest []string
			for _, h := range e.Slip {
				if l, ok := levelOfQueue(h); ok {
					rest = append(rest, l.Name)
				}
			}
			what += " (then " + strings.Join(rest, ", ") + ")"
		}
		reasons := strings.Join(e.Reasons, "; ")
		if e.Err != "" {
			reasons = strings.TrimPrefix(reasons+"; unreadable value: "+e.Err, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d@%d\t%s\t%s\t%s\t%s\n",
			e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Topic, e.Partition, e.Offset,
			level, what, cmp.Or(e.Decision, "-"), reasons)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	last := events[len(events)-1]
	var err error
	for i := len(events) - 1; i >= 0; i-- { // the outcome is the last record that is one
		if k := events[i].Kind; k == EventFinal || k == EventDeadLetter || (k == EventDesk && events[i].Decision == KindAwaitingReview) {
			last = events[i]
			break
		}
	}
	switch last.Kind {
	case EventDesk:
		_, err = fmt.Fprintf(w, "outcome: awaiting review (%s)\n", strings.Join(last.Reasons, "; "))
		return err
	case EventFinal:
		_, err = fmt.Fprintf(w, "outcome: %s at level %s\n", last.Decision, last.Level)
	case EventDeadLetter:
		_, err = fmt.Fprintf(w, "outcome: dead-lettered by level %s\n", last.Level)
	default:
		_, err = fmt.Fprintf(w, "outcome: none yet; last seen on %s\n", last.Topic)
	}
	return err
}

// partitionCounts returns the partition count of every topic of topics that
// exists.
func partitionCounts(ctx context.Context, adm *kadm.Client, topics []string) (map[string]int32, error) {
	tds, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	out := map[string]int32{}
	for _, t := range topics {
		if tds.Has(t) {
			if err := tds[t].Err; err != nil {
				return nil, fmt.Errorf("topic %s: %w", t, err)
			}
			out[t] = int32(len(tds[t].Partitions))
		}
	}
	return out, nil
}

// span is a range of offsets of one partition: [start, end).
type span struct{ start, end int64 }

// listSpans returns the span of every partition named in parts, from its start
// offset to its end offset now.
func listSpans(ctx context.Context, adm *kadm.Client, parts map[string][]int32) (map[string]map[int32]span, error) {
	var topics []string
	for t := range parts {
		topics = append(topics, t)
	}
	if len(topics) == 0 {
		return nil, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[string]map[int32]span{}
	for t, ps := range parts {
		for _, p := range ps {
			s, _ := starts.Lookup(t, p)
			e, _ := ends.Lookup(t, p)
			if s.Offset < e.Offset {
				if out[t] == nil {
					out[t] = map[int32]span{}
				}
				out[t][p] = span{s.Offset, e.Offset}
			}
		}
	}
	return out, nil
}

// scanIdle bounds how long scan waits for the next record of a span it has not
// read to its end: offsets missing at the end of a partition (compacted away,
// or transaction markers) fail the scan instead of blocking it.
const scanIdle = 10 * time.Second

// scan reads every span, without a consumer group (so committing nothing), and
// calls each with every committed record in it, in offset order per
// partition.
func scan(ctx context.Context, conn []kgo.Opt, spans map[string]map[int32]span, each func(*kgo.Record)) error {
	offsets := map[string]map[int32]kgo.Offset{}
	left := 0
	for t, ps := range spans {
		for p, s := range ps {
			if s.start >= s.end {
				continue
			}
			if offsets[t] == nil {
				offsets[t] = map[int32]kgo.Offset{}
			}
			offsets[t][p] = kgo.NewOffset().At(s.start)
			left++
		}
	}
	if left == 0 {
		return nil
	}
	// Read committed, keeping transaction markers: a topic written by
	// exactly-once levels ends with a marker, which counts toward its end.
	cl, err := kgo.NewClient(append(slices.Clone(conn), kgo.ConsumePartitions(offsets),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return err
	}
	defer cl.Close()
	done := map[string]map[int32]bool{}
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, scanIdle)
		fs := cl.PollFetches(pctx)
		idle := pctx.Err() != nil
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if idle {
			var stuck []string
			for t, ps := range spans {
				for p, s := range ps {
					if s.start < s.end && !done[t][p] {
						stuck = append(stuck, fmt.Sprintf("%s/%d", t, p))
					}
				}
			}
			slices.Sort(stuck)
			return fmt.Errorf("no record for %v while reading %s to the end offsets listed before", scanIdle, strings.Join(stuck, ", "))
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			s := spans[r.Topic][r.Partition]
			if r.Offset >= s.end || done[r.Topic][r.Partition] {
				return
			}
			if !r.Attrs.IsControl() {
				each(r)
			}
			if r.Offset+1 >= s.end {
				if done[r.Topic] == nil {
					done[r.Topic] = map[int32]bool{}
				}
				done[r.Topic][r.Partition] = true
				left--
			}
		})
	}
	return nil
}
