package progress

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// snapshot is what one drawing of the bar shows.
type snapshot struct {
	what        string
	done, total int64
	rate        float64 // units per second
	eta         time.Duration
	elapsed     time.Duration
	final       bool
}

// render returns the bar line for s in at most width columns:
//
//	replaying [=========>          ]  45%  4.5k/10k  1.2k/s  ETA 5s
//
// With an unknown total it shows the count and rate without a bar; a final line
// shows the elapsed time instead of the ETA.
func render(s snapshot, width int) string {
	var tail strings.Builder
	if s.total > 0 {
		pct := min(100*s.done/s.total, 100)
		fmt.Fprintf(&tail, " %3d%%  %s/%s", pct, count(s.done), count(s.total))
	} else {
		fmt.Fprintf(&tail, "  %s", count(s.done))
	}
	fmt.Fprintf(&tail, "  %s/s", count(int64(s.rate+0.5)))
	switch {
	case s.final:
		fmt.Fprintf(&tail, "  in %s", duration(s.elapsed))
	case s.eta > 0:
		fmt.Fprintf(&tail, "  ETA %s", duration(s.eta))
	}
	head := s.what + " "
	if s.total <= 0 {
		return clip(head+strings.TrimLeft(tail.String(), " "), width)
	}
	// The bar takes what the text leaves, between 10 and 40 cells.
	cells := width - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail.String()) - 2
	if cells < 10 {
		return clip(head+strings.TrimLeft(tail.String(), " "), width)
	}
	cells = min(cells, 40)
	filled := int(int64(cells) * min(s.done, s.total) / s.total)
	bar := strings.Repeat("=", filled)
	if filled < cells {
		if filled > 0 {
			bar = bar[:filled-1] + ">"
		}
		bar += strings.Repeat(" ", cells-filled)
	}
	return head + "[" + bar + "]" + tail.String()
}

// clip cuts s to width runes.
func clip(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width])
}

// count formats n with a k, M or G suffix past 10,000.
func count(n int64) string {
	f := float64(n)
	switch {
	case n < 10_000:
		return fmt.Sprint(n)
	case n < 10_000_000:
		return trim(f/1e3) + "k"
	case n < 10_000_000_000:
		return trim(f/1e6) + "M"
	}
	return trim(f/1e9) + "G"
}

// trim formats f with one decimal, dropping ".0".
func trim(f float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0")
}

// duration formats d as 1h02m, 3m04s or 5s.
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
