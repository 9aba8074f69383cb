package visa

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the outcome of a run, from a [Tally].
type Summary struct {
	Sent, Decided, DeadLettered, Duplicates, Missing int
	// MissingIDs are the first few applications without an outcome, sorted.
	MissingIDs []string
	// Elapsed runs from the first record sent to the last final decision.
	Elapsed time.Duration
	// ByType counts final decisions per visa type and decision; malformed records
	// count under the type "(malformed)" and the decision "dead-lettered".
	ByType map[string]map[string]int
	// Levels holds the latency of each level, from the previous step (or the
	// submission, for level A) to its own: queueing and handling.
	Levels map[string]Latency
	// EndToEnd is the latency from submission to final decision.
	EndToEnd Latency
	// DeadLetters counts dead letters per topic.
	DeadLetters map[string]int
	// AwaitingReview counts applications in the desk's review table, and
	// Escalated those of them whose review SLA passed; SLA counts the
	// applications that exceeded a level's SLA, by level; LateAnswers counts
	// levels' answers that came after an SLA or a review (see [Options]).
	// SLA is nil when no desk reported to the tally.
	AwaitingReview, Escalated, LateAnswers int
	SLA                                    map[string]int
	// Lag is the consumer lag of each level's group, by level name, when the
	// summary was made (see [Lag]); nil if unknown. A [Tally] sees only outcomes,
	// so it leaves Lag nil: the caller reads it from the cluster.
	Lag map[string]int64
}

// maxMissingIDs bounds [Summary.MissingIDs].
const maxMissingIDs = 10

// Latency summarises durations.
type Latency struct {
	N             int
	P50, P99, Max time.Duration
}

// latency returns the summary of ds, which it sorts.
func latency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration { // nearest rank
		i := int(p*float64(len(ds))+0.999999) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Latency{N: len(ds), P50: rank(0.50), P99: rank(0.99), Max: ds[len(ds)-1]}
}

// Summary returns the run's summary so far.
func (t *Tally) Summary() Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Summary{
		Sent: len(t.mu.sent), Decided: len(t.mu.decided), DeadLettered: len(t.mu.dead),
		Duplicates: t.mu.dups, Missing: len(t.mu.sent) - t.accountedLocked(),
		ByType: map[string]map[string]int{}, Levels: map[string]Latency{}, DeadLetters: map[string]int{},
		AwaitingReview: len(t.mu.review), LateAnswers: t.mu.late,
	}
	if t.mu.deskOn {
		s.SLA = map[string]int{}
	}
	for _, l := range t.mu.sla {
		s.SLA[l]++
	}
	for id := range t.mu.escalated {
		if t.mu.review[id] {
			s.Escalated++
		}
	}
	if !t.mu.lastFinal.IsZero() {
		s.Elapsed = t.mu.lastFinal.Sub(t.mu.start)
	}
	count := func(typ, decision string) {
		if s.ByType[typ] == nil {
			s.ByType[typ] = map[string]int{}
		}
		s.ByType[typ][decision]++
	}
	perLevel := map[string][]time.Duration{}
	var e2e []time.Duration
	for _, d := range t.mu.decided {
		count(d.VisaType, d.Decision)
		prev := d.SubmittedAt
		for _, st := range d.Path {
			perLevel[st.Level] = append(perLevel[st.Level], st.Time.Sub(prev))
			prev = st.Time
		}
		e2e = append(e2e, d.DecidedAt.Sub(d.SubmittedAt))
	}
	for id, topic := range t.mu.dead {
		s.DeadLetters[topic]++
		if _, ok := t.mu.decided[id]; ok {
			continue
		}
		typ := t.mu.sent[id]
		if typ == "" {
			typ = "(malformed)"
		}
		count(typ, "dead-lettered")
	}
	for id := range t.mu.review {
		if _, decided := t.mu.decided[id]; !decided {
			typ := t.mu.sent[id]
			count(typ, "awaiting review")
		}
	}
	for id := range t.mu.sent {
		_, decided := t.mu.decided[id]
		_, dead := t.mu.dead[id]
		if !decided && !dead && !t.mu.review[id] {
			s.MissingIDs = append(s.MissingIDs, id)
		}
	}
	slices.Sort(s.MissingIDs)
	s.MissingIDs = s.MissingIDs[:min(len(s.MissingIDs), maxMissingIDs)]
	for l, ds := range perLevel {
		s.Levels[l] = latency(ds)
	}
	s.EndToEnd = latency(e2e)
	return s
}

// WriteTo writes s as tables for people.
func (s Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d applications sent, %d decided, %d dead-lettered, %d missing, %d duplicates; last decision %.1fs after the first was sent\n",
		s.Sent, s.Decided, s.DeadLettered, s.Missing, s.Duplicates, s.Elapsed.Seconds())
	if s.SLA != nil {
		var sla []string
		n := 0
		for _, l := range slices.Sorted(maps.Keys(s.SLA)) {
			sla = append(sla, fmt.Sprintf("%s %d", l, s.SLA[l]))
			n += s.SLA[l]
		}
		fmt.Fprintf(&b, "desk: %d escalated by an SLA", n)
		if n > 0 {
			fmt.Fprintf(&b, " (level %s)", strings.Join(sla, ", level "))
		}
		fmt.Fprintf(&b, ", %d awaiting review (%d escalated), %d late answers\n", s.AwaitingReview, s.Escalated, s.LateAnswers)
	}

	decisions := map[string]bool{}
	for _, m := range s.ByType {
		for d := range m {
			decisions[d] = true
		}
	}
	cols := decisionOrder(decisions)
	// Names are padded to one width, so that the right-aligning tabwriter leaves
	// them aligned left.
	width := len("end to end")
	for typ := range s.ByType {
		width = max(width, len(typ))
	}
	left := func(name string) string { return fmt.Sprintf("%-*s", width, name) }
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t%s\ttotal\t\n", left("visa type"), strings.Join(cols, "\t"))
	totals := map[string]int{}
	for _, typ := range slices.Sorted(maps.Keys(s.ByType)) {
		row, n := []string{left(typ)}, 0
		for _, d := range cols {
			row = append(row, itoa(s.ByType[typ][d]))
			n += s.ByType[typ][d]
			totals[d] += s.ByType[typ][d]
		}
		fmt.Fprintf(tw, "%s\t%d\t\n", strings.Join(row, "\t"), n)
	}
	row, n := []string{left("total")}, 0
	for _, d := range cols {
		row = append(row, itoa(totals[d]))
		n += totals[d]
	}
	fmt.Fprintf(tw, "%s\t%d\t\n", strings.Join(row, "\t"), n)
	tw.Flush()

	b.WriteString("latency (ms; a level's includes its queue wait)\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tn\tp50\tp99\tmax\t\n", left(""))
	lat := func(name string, l Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", left(name), l.N, ms(l.P50), ms(l.P99), ms(l.Max))
	}
	for _, l := range slices.Sorted(maps.Keys(s.Levels)) {
		lat("level "+l, s.Levels[l])
	}
	lat("end to end", s.EndToEnd)
	tw.Flush()

	var dl []string
	for _, topic := range slices.Sorted(maps.Keys(s.DeadLetters)) {
		dl = append(dl, fmt.Sprintf("%s %d", topic, s.DeadLetters[topic]))
	}
	fmt.Fprintf(&b, "dead letters: %d", s.DeadLettered)
	if len(dl) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(dl, ", "))
	}
	b.WriteString("\n")
	if s.Lag != nil {
		var lag []string
		for _, l := range slices.Sorted(maps.Keys(s.Lag)) {
			lag = append(lag, fmt.Sprintf("%s %d", l, s.Lag[l]))
		}
		fmt.Fprintf(&b, "lag (records not yet committed per level): %s\n", strings.Join(lag, ", "))
	}
	if len(s.MissingIDs) > 0 {
		fmt.Fprintf(&b, "missing: %s", strings.Join(s.MissingIDs, ", "))
		if s.Missing > len(s.MissingIDs) {
			fmt.Fprintf(&b, " and %d more", s.Missing-len(s.MissingIDs))
		}
		b.WriteString("\n")
	}
	n2, err := io.WriteString(w, b.String())
	return int64(n2), err
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func itoa(n int) string { return strconv.Itoa(n) }
