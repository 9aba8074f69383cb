package soak

import (
	"testing"
)

// seqs returns 1..n.
func seqs(n int64) []int64 {
	var s []int64
	for i := int64(1); i <= n; i++ {
		s = append(s, i)
	}
	return s
}

// tally returns the table entry the sequence numbers ss compute.
func tally(ss ...int64) Tally {
	t := Tally{Last: ss[len(ss)-1], Count: int64(len(ss))}
	for _, s := range ss {
		t.Sum += s
	}
	return t
}

// tables returns both agents' tables holding t for key "a".
func tables(t Tally) map[string]map[string]Tally {
	return map[string]map[string]Tally{FirstAgent: {"a": t}, SecondAgent: {"a": t}}
}

// TestCheck pins what Check counts, and which counts fail each mode: a gap is
// lost, a never-seen lower sequence number is reordered, a replayed suffix is
// duplicates only, and a table's count may be too high in at-least-once mode
// but nothing else may be off.
func TestCheck(t *testing.T) {
	five := seqs(5)
	for _, tc := range []struct {
		name         string
		sent         Sent
		input        Log
		output       Log
		tables       map[string]map[string]Tally
		want         Counts // Sent, Lost, Reordered, Duplicates, Spurious, TableMismatches, TableOvercounts
		failALO      bool
		failEO       bool
		eoMismatches int // TableMismatches in exactly-once mode, when it differs
	}{
		{
			name: "clean", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": five},
			tables: tables(tally(five...)),
			want:   Counts{Sent: 5},
		},
		{
			name: "gap", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": {1, 2, 4, 5}},
			tables:  tables(tally(five...)),
			want:    Counts{Sent: 5, Lost: 1},
			failALO: true, failEO: true,
		},
		{
			name: "acknowledged but missing from input", sent: Sent{"a": seqs(6)}, input: Log{"a": five}, output: Log{"a": five},
			tables:  tables(tally(five...)),
			want:    Counts{Sent: 6, Lost: 1},
			failALO: true, failEO: true,
		},
		{
			name: "replayed suffix", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": {1, 2, 3, 4, 3, 4, 5}},
			tables: tables(Tally{Last: 5, Count: 7, Sum: 22}),
			want:   Counts{Sent: 5, Duplicates: 2, TableOvercounts: 2},
			failEO: true, eoMismatches: 2,
		},
		{
			name: "reordered", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": {1, 3, 4, 2, 5}},
			tables:  tables(tally(five...)),
			want:    Counts{Sent: 5, Reordered: 1},
			failALO: true, failEO: true,
		},
		{
			name: "input repeat passed through", sent: Sent{"a": five}, input: Log{"a": {1, 2, 3, 2, 3, 4, 5}}, output: Log{"a": {1, 2, 3, 2, 3, 4, 5}},
			tables: tables(tally(1, 2, 3, 2, 3, 4, 5)),
			want:   Counts{Sent: 5},
		},
		{
			name: "spurious", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": {1, 2, 3, 4, 5, 9}},
			tables:  tables(tally(five...)),
			want:    Counts{Sent: 5, Spurious: 1},
			failALO: true, failEO: true,
		},
		{
			name: "stale last", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": five},
			tables:  tables(Tally{Last: 4, Count: 6, Sum: 19}),
			want:    Counts{Sent: 5, TableMismatches: 2, TableOvercounts: 2},
			failALO: true, failEO: true,
		},
		{
			name: "undercount", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": five},
			tables:  tables(Tally{Last: 5, Count: 4, Sum: 15}),
			want:    Counts{Sent: 5, TableMismatches: 2},
			failALO: true, failEO: true,
		},
		{
			name: "missing table entry", sent: Sent{"a": five}, input: Log{"a": five}, output: Log{"a": five},
			tables:  map[string]map[string]Tally{FirstAgent: {"a": tally(five...)}, SecondAgent: {}},
			want:    Counts{Sent: 5, TableMismatches: 1},
			failALO: true, failEO: true,
		},
		{
			name: "no sent record: the input stands for it", input: Log{"a": five}, output: Log{"a": {1, 2, 3}},
			tables:  tables(tally(five...)),
			want:    Counts{Sent: 5, Lost: 2},
			failALO: true, failEO: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []Mode{AtLeastOnce, ExactlyOnce} {
				got := Check(mode, tc.sent, tc.input, tc.output, tc.tables)
				want := tc.want
				if mode == ExactlyOnce && tc.eoMismatches > 0 {
					want.TableMismatches = tc.eoMismatches
				}
				if got.Sent != want.Sent || got.Lost != want.Lost || got.Reordered != want.Reordered ||
					got.Duplicates != want.Duplicates || got.Spurious != want.Spurious ||
					got.TableMismatches != want.TableMismatches || got.TableOvercounts != want.TableOvercounts {
					t.Errorf("%s: Check() = %+v, want %+v", mode, got, want)
				}
				wantFail := tc.failALO
				if mode == ExactlyOnce {
					wantFail = tc.failEO
				}
				if got.Failed(mode) != wantFail {
					t.Errorf("%s: Failed() = %v, want %v (problems %q)", mode, got.Failed(mode), wantFail, got.Problems)
				}
			}
		})
	}
}

// TestReportLine pins the machine-readable line that make chaos and the
// README quote.
func TestReportLine(t *testing.T) {
	r := Report{Mode: AtLeastOnce, Counts: Counts{Sent: 200000, Duplicates: 12, TableOvercounts: 3}, Kills: 5, BrokerBounces: 2, Rebalances: 4,
		RollingRestarts: 1, Outages: 1, Kafka: "kafka-4.4.0", Elapsed: 192_400_000_000}
	want := "records=200000 lost=0 reordered=0 duplicates=12 table_mismatches=0 table_overcounts=3 kills=5 broker_bounces=2 rebalances=4 rolling_restarts=1 outages=1 mode=at-least-once kafka=kafka-4.4.0 elapsed=3m12s"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
