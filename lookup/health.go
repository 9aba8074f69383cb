package lookup

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/jsonhttp"
)

// Statuses of the service and of each table, as /readyz, /healthz and
// /tables report them.
const (
	// StatusServing: every view has recovered and heard from the broker
	// within the stale-after time ([StaleAfter]).
	StatusServing = "serving"
	// StatusStale: serving, possibly stale: every view has recovered and
	// answers from its copy, but one has not heard from the broker for
	// longer (it is down, or unreachable).
	StatusStale = "stale"
	// StatusLoading: a view has never recovered (a fresh or wiped data dir):
	// its lookups answer 503 until it has caught up.
	StatusLoading = "loading"
	// StatusStopped: the views are not running ([Server.Run] has not started
	// or has returned).
	StatusStopped = "stopped"
)

// Status is the body of /readyz, /healthz and /tables.
type Status struct {
	Status string        `json:"status"`
	Detail string        `json:"detail"`
	Tables []TableStatus `json:"tables"`
}

// TableStatus is how current the copy of one served table is.
type TableStatus struct {
	Table     string `json:"table"`
	Status    string `json:"status"`
	Recovered bool   `json:"recovered"`
	// AgeSeconds is the seconds since the view last heard from the broker;
	// omitted if it never did.
	AgeSeconds *float64 `json:"age_seconds,omitempty"`
	// Lag is the changelog offsets the view lacked then; omitted if unknown.
	Lag *int64 `json:"lag,omitempty"`
}

// Status returns how the server answers now.
func (s *Server) Status() Status {
	now := time.Now()
	out := Status{Status: StatusServing}
	var loading, stale []string
	for _, t := range s.sortedTables() {
		f := t.view.Freshness()
		ts := TableStatus{Table: t.name, Status: StatusServing, Recovered: f.Recovered}
		age := f.Age(now)
		if age >= 0 {
			secs := float64(age.Milliseconds()) / 1e3
			ts.AgeSeconds = &secs
		}
		if f.Lag >= 0 {
			lag := f.Lag
			ts.Lag = &lag
		}
		switch {
		case !f.Recovered:
			ts.Status = StatusLoading
			loading = append(loading, t.name)
		case age < 0 || age > s.staleAfter:
			ts.Status = StatusStale
			stale = append(stale, t.name)
		}
		out.Tables = append(out.Tables, ts)
	}
	switch {
	case !s.running.Load():
		out.Status, out.Detail = StatusStopped, "the views are not running"
	case len(loading) > 0:
		out.Status = StatusLoading
		out.Detail = fmt.Sprintf("not recovered yet: %s; their lookups answer 503 until the views have caught up with the changelog", strings.Join(loading, ", "))
	case len(stale) > 0:
		out.Status = StatusStale
		out.Detail = fmt.Sprintf("serving, possibly stale: the copies of %s have not heard from the broker for more than %v", strings.Join(stale, ", "), s.staleAfter)
	default:
		out.Detail = "serving from copies that heard from the broker within " + s.staleAfter.String()
	}
	return out
}

// healthz answers liveness: 200 while the views run, whatever the broker
// does.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	st := s.Status()
	code := http.StatusOK
	if st.Status == StatusStopped {
		code = http.StatusServiceUnavailable
	}
	jsonhttp.Reply(w, code, st)
}

// readyz answers readiness: 200 once every view has recovered, stale or not.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	st := s.Status()
	code := http.StatusOK
	if st.Status == StatusLoading || st.Status == StatusStopped {
		code = http.StatusServiceUnavailable
	}
	jsonhttp.Reply(w, code, st)
}

// list answers GET /tables.
func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	jsonhttp.Reply(w, http.StatusOK, s.Status())
}
