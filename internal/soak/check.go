package soak

import (
	"fmt"
	"maps"
	"slices"
)

// Log is what one topic holds: each key's sequence numbers in the order of
// the key's partition.
type Log map[string][]int64

// Sent is the set of records the broker acknowledged to the generator: each
// key's sequence numbers, in any order.
type Sent map[string][]int64

// Counts is what [Check] found.
type Counts struct {
	Sent          int // records acknowledged to the generator
	InputRecords  int // records in the input topic
	InputRepeats  int // input records repeating an earlier one of their key: a producer retry after a lost acknowledgement
	OutputRecords int // records in the output topic

	// Lost counts the records sent or in the input that never reached the
	// output.
	Lost int
	// Reordered counts output records whose sequence number is lower than
	// one seen before for their key and was not itself seen before (a
	// repeated record after a replay is a duplicate, not a reordering).
	Reordered int
	// Duplicates counts output records beyond the number of copies of their
	// record in the input.
	Duplicates int
	// Spurious counts output records that were never in the input.
	Spurious int
	// TableMismatches counts table entries (agent, key) that break the mode's
	// promise: in [AtLeastOnce] a Last other than the input's last sequence
	// number, or a Count or Sum below the input's; in [ExactlyOnce] any
	// difference. A missing or extra entry is a mismatch in both modes.
	TableMismatches int
	// TableOvercounts counts table entries whose Count or Sum is above the
	// input's, in either mode: at-least-once's allowed error after a replay.
	TableOvercounts int

	// Problems describes the first few problems found, for a person.
	Problems []string
}

// maxProblems bounds [Counts.Problems].
const maxProblems = 10

// Failed reports whether c breaks mode's promise: anything lost, reordered or
// spurious, a table mismatch, and in [ExactlyOnce] a duplicate.
func (c Counts) Failed(mode Mode) bool {
	return c.Lost > 0 || c.Reordered > 0 || c.Spurious > 0 || c.TableMismatches > 0 ||
		(mode == ExactlyOnce && c.Duplicates > 0)
}

func (c *Counts) problem(format string, args ...any) {
	if len(c.Problems) < maxProblems {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
}

// Check compares the output and the tables of the agents (by agent name, then
// key) with the input and the records sent, under mode's promises. With a nil
// sent, the input stands for what was sent. The expected table entry of a key
// is computed from the input: the last sequence number, the number of records
// and their sum.
func Check(mode Mode, sent Sent, input, output Log, tables map[string]map[string]Tally) Counts {
	var c Counts
	inCount := occurrences(input)
	outCount := occurrences(output)
	for _, seqs := range input {
		c.InputRecords += len(seqs)
	}
	for _, seqs := range output {
		c.OutputRecords += len(seqs)
	}
	for _, k := range sortedKeys(input) {
		seen := map[int64]bool{}
		for _, s := range input[k] {
			if seen[s] {
				c.InputRepeats++
			}
			seen[s] = true
		}
	}

	// Lost: sent or in the input, never in the output.
	want := map[string]map[int64]bool{}
	if sent == nil {
		sent = Sent(input)
	}
	for k, seqs := range sent {
		c.Sent += len(seqs)
		for _, s := range seqs {
			add(want, k, s)
		}
	}
	for k, seqs := range input {
		for _, s := range seqs {
			add(want, k, s)
		}
	}
	for _, k := range sortedKeys(want) {
		for _, s := range slices.Sorted(maps.Keys(want[k])) {
			if outCount[k][s] == 0 {
				c.Lost++
				where := "in the input"
				if inCount[k][s] == 0 {
					where = "acknowledged but not in the input"
				}
				c.problem("lost: key %s seq %d (%s) never reached the output", k, s, where)
			}
		}
	}

	// Reordered, duplicates and spurious records of the output.
	for _, k := range sortedKeys(output) {
		seen := map[int64]bool{}
		var high int64
		for i, s := range output[k] {
			if s < high && !seen[s] {
				c.Reordered++
				c.problem("reordered: key %s seq %d after seq %d (its record %d in the output)", k, s, high, i)
			}
			seen[s] = true
			high = max(high, s)
		}
		for _, s := range slices.Sorted(maps.Keys(outCount[k])) {
			n, in := outCount[k][s], inCount[k][s]
			switch {
			case in == 0:
				c.Spurious += n
				c.problem("spurious: key %s seq %d in the output %d times, never in the input", k, s, n)
			case n > in:
				c.Duplicates += n - in
			}
		}
	}

	// Tables against a recomputation from the input.
	expected := map[string]Tally{}
	for k, seqs := range input {
		t := Tally{Last: seqs[len(seqs)-1], Count: int64(len(seqs))}
		for _, s := range seqs {
			t.Sum += s
		}
		expected[k] = t
	}
	for _, agent := range sortedKeys(tables) {
		table := tables[agent]
		for _, k := range sortedKeys(expected) {
			want := expected[k]
			got, ok := table[k]
			if ok && (got.Count > want.Count || got.Sum > want.Sum) {
				c.TableOvercounts++
			}
			switch {
			case !ok:
				c.TableMismatches++
				c.problem("table %s: key %s missing, want %+v", agent, k, want)
			case got == want:
			case mode == AtLeastOnce && got.Last == want.Last && got.Count >= want.Count && got.Sum >= want.Sum:
				// at-least-once's allowed error: a replay counted again
			default:
				c.TableMismatches++
				c.problem("table %s: key %s is %+v, want %+v", agent, k, got, want)
			}
		}
		for _, k := range sortedKeys(table) {
			if _, ok := expected[k]; !ok {
				c.TableMismatches++
				c.problem("table %s: key %s is %+v but never was in the input", agent, k, table[k])
			}
		}
	}
	return c
}

// occurrences returns how often each key's sequence numbers occur in l.
func occurrences(l Log) map[string]map[int64]int {
	m := make(map[string]map[int64]int, len(l))
	for k, seqs := range l {
		n := make(map[int64]int, len(seqs))
		for _, s := range seqs {
			n[s]++
		}
		m[k] = n
	}
	return m
}

func add(m map[string]map[int64]bool, k string, s int64) {
	if m[k] == nil {
		m[k] = map[int64]bool{}
	}
	m[k][s] = true
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
