package visa

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Memory is what a level remembers of one application, in its table (a Pebble
// store backed by a compacted changelog, keyed by application ID): a level that
// restarts, or moves to another machine, rebuilds it and goes on with its context.
type Memory struct {
	// TimesSeen is how many times the level has handled the application.
	TimesSeen int       `json:"times_seen"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Saw is the application as the level last saw it.
	Saw Application `json:"saw"`
	// Decision and Reasons are what the level last decided.
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons,omitempty"`
}

// note describes, for the path, what the level remembers of an application it
// sees again.
func (m Memory) note(app Application) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seen %d times, first at %s; last decision %s", m.TimesSeen+1, m.FirstSeen.Format(time.RFC3339), m.Decision)
	if len(m.Reasons) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(m.Reasons, "; "))
	}
	if same(m.Saw, app) {
		b.WriteString("; application unchanged")
	} else {
		b.WriteString("; application changed since")
	}
	return b.String()
}

// same reports whether a and b are the same application, compared as JSON:
// decoded times in fixed zones do not compare equal with ==.
func same(a, b Application) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
