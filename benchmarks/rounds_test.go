package benchmarks

import (
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// roundsFlag is how many rounds an end-to-end benchmark runs. Each round runs
// every variant once, so a drift of the machine during a run (another
// process, a warmer cache) reaches every variant alike instead of landing on
// whichever ran last; figures are medians over the rounds. go test's -count
// would instead run all rounds of one variant before the next, and repeat
// each row with its median: leave it at 1 and set -rounds.
var roundsFlag = flag.Int("rounds", 5, "rounds of each end-to-end benchmark; every variant runs once per round and reports its median")

// rounds returns -rounds, at least 1.
func rounds() int { return max(*roundsFlag, 1) }

// Modes are the processing modes.
const (
	atLeastOnce = "at-least-once"
	exactlyOnce = "exactly-once"
)

// Modes are the processing modes BenchmarkExactlyOnce compares, and the modes
// of the implementations that have two.
var Modes = []string{atLeastOnce, exactlyOnce}

// variant is one row of an end-to-end benchmark: an implementation in a
// processing mode, on a broker.
type variant struct {
	env  *env
	impl string
	mode string
}

// name is the variant's sub-benchmark name, key=value for benchstat.
func (v variant) name() string {
	return fmt.Sprintf("broker=%s/impl=%s/mode=%s", v.env.name, v.impl, v.mode)
}

// variants returns every variant of impls on envs: sluice and kstreams in
// both modes, the others at-least-once; kstreams on the real broker only.
func variants(envs []*env, impls ...string) []variant {
	var out []variant
	for _, e := range envs {
		for _, impl := range impls {
			if impl == kstreamsImpl && e.name != "kafka" {
				continue
			}
			modes := []string{atLeastOnce}
			if impl == "sluice" || impl == kstreamsImpl {
				modes = Modes
			}
			for _, m := range modes {
				out = append(out, variant{env: e, impl: impl, mode: m})
			}
		}
	}
	return out
}

// benchVariants returns the variants of impls on the -brokers that the
// -bench pattern selects (see [selected]), with their brokers started.
func benchVariants(b *testing.B, impls ...string) []variant {
	b.Helper()
	var out []variant
	for _, v := range selected(variants(envs(b), impls...), "") {
		if v.env.up(b) {
			out = append(out, v)
		}
	}
	return out
}

// selected returns the variants of vs whose rows, named v.name()+suffix, match the
// -bench pattern: the rounds run before the rows exist, so the parent
// benchmark filters them itself, as testing would (each /-separated element
// of the pattern after the first matches the element of the row's name at
// its level, unanchored). A pattern that does not compile selects all.
func selected(vs []variant, suffix string) []variant {
	f := flag.Lookup("test.bench")
	if f == nil {
		return vs
	}
	pats := strings.Split(f.Value.String(), "/")[1:]
	var res []*regexp.Regexp
	for _, p := range pats {
		re, err := regexp.Compile(p)
		if err != nil {
			return vs
		}
		res = append(res, re)
	}
	var out []variant
	for _, v := range vs {
		elems := strings.Split(v.name()+suffix, "/")
		ok := true
		for i, re := range res {
			if i < len(elems) && !re.MatchString(elems[i]) {
				ok = false
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// interleave runs run once per variant in each of [rounds] rounds, the
// variants' order rotated by one each round (so that none always runs first,
// after a broker start, or last), and returns each variant's results in
// round order.
func interleave[R any](b *testing.B, vs []variant, run func(v variant, round int) R) map[variant][]R {
	b.Helper()
	out := make(map[variant][]R, len(vs))
	for r := range rounds() {
		for i := range vs {
			v := vs[(i+r)%len(vs)]
			out[v] = append(out[v], run(v, r))
		}
	}
	return out
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// each returns f of every result.
func each[R any](rs []R, f func(R) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// ratios returns, round by round, f of a's result over f of b's: ratios
// taken within a round, where the machine was the same for both.
func ratios[R any](a, b []R, f func(R) float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d != 0 {
			out = append(out, f(a[i])/d)
		}
	}
	return out
}

// metric is one reported figure of a row.
type metric struct {
	value float64
	unit  string
}

// report adds the row name (a variant's name, and more) with ms as its
// figures. The row's own time per operation is meaningless (the rounds ran
// before it) and left out.
func report(b *testing.B, name string, ms ...metric) {
	b.Helper()
	b.Run(name, func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		for _, m := range ms {
			b.ReportMetric(m.value, m.unit)
		}
	})
}

// vsUnit names the metric of a ratio against another implementation.
func vsUnit(impl, mode string) string {
	return "x_" + strings.ReplaceAll(impl+"_"+mode, "-", "_")
}
