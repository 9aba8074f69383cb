package visa

import (
	"fmt"
	"strconv"
	"strings"
)

// Mix is the share of each visa type among generated applications. Any type
// name is allowed: one without a route tests the needs_review path.
type Mix []Share

// Share is one visa type's share of a [Mix], in percent.
type Share struct {
	VisaType string
	Percent  float64
}

// DefaultMix is tourist=50,business=30,student=20.
var DefaultMix = Mix{{"tourist", 50}, {"business", 30}, {"student", 20}}

// ParseMix parses "tourist=50,business=30,student=20". The shares are percentages;
// if they do not add up to 100 they are scaled to.
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		typ, pct, ok := strings.Cut(part, "=")
		typ = strings.TrimSpace(typ)
		p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if !ok || typ == "" || err != nil || p < 0 {
			return nil, fmt.Errorf("mix %q: %q is not TYPE=PERCENT, such as tourist=50", s, part)
		}
		for _, sh := range m {
			if sh.VisaType == typ {
				return nil, fmt.Errorf("mix %q: %s named twice", s, typ)
			}
		}
		m = append(m, Share{VisaType: typ, Percent: p})
	}
	if m.total() <= 0 {
		return nil, fmt.Errorf("mix %q: no visa type with a share above 0", s)
	}
	return m, nil
}

// String returns the mix as ParseMix reads it.
func (m Mix) String() string {
	parts := make([]string, len(m))
	for i, sh := range m {
		parts[i] = sh.VisaType + "=" + strconv.FormatFloat(sh.Percent, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (m Mix) total() float64 {
	var t float64
	for _, sh := range m {
		t += sh.Percent
	}
	return t
}

// pick returns the visa type that x, in [0, 1), falls on.
func (m Mix) pick(x float64) string {
	x *= m.total()
	for _, sh := range m {
		if x < sh.Percent {
			return sh.VisaType
		}
		x -= sh.Percent
	}
	return m[len(m)-1].VisaType
}
