package featurestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/topology"
)

// Reader reads feature vectors by entity. A [*topology.View] of the store's
// table is one; a test may pass a map-backed fake.
//
// A Reader that also has a Recovered() bool method (a View has) makes
// [Handler] answer 503 until it reports true: before a view has caught up with
// the table, an entity it has not read yet would look unknown.
type Reader interface {
	Get(entity string) (Vector, bool, error)
}

// Response is the body of a successful lookup.
type Response struct {
	Entity   string             `json:"entity"`
	Features map[string]Feature `json:"features"`
}

// errorResponse is the body of a failed lookup.
type errorResponse struct {
	Error string `json:"error"`
}

// Handler returns the lookup service: GET /features/{entity} answers 200 with a
// [Response] in JSON (each feature's value and the time it was computed as
// of), 404 for an entity the store has no features of, 503 with Retry-After
// while r has not recovered or is not running, and 500 if r fails otherwise.
// Errors come as {"error": "..."}. The handler is safe for concurrent use if r
// is.
func Handler(r Reader) http.Handler {
	mux := http.NewServeMux()
	recovered, _ := r.(interface{ Recovered() bool })
	mux.HandleFunc("GET /features/{entity}", func(w http.ResponseWriter, req *http.Request) {
		entity := req.PathValue("entity")
		if recovered != nil && !recovered.Recovered() {
			unavailable(w, "the feature store is still loading")
			return
		}
		v, ok, err := r.Get(entity)
		switch {
		case errors.Is(err, topology.ErrViewNotRunning):
			unavailable(w, err.Error())
		case err != nil:
			reply(w, http.StatusInternalServerError, errorResponse{Error: err.Error()})
		case !ok:
			reply(w, http.StatusNotFound, errorResponse{Error: fmt.Sprintf("unknown entity %q", entity)})
		default:
			reply(w, http.StatusOK, Response{Entity: entity, Features: v.Features})
		}
	})
	return mux
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	reply(w, http.StatusServiceUnavailable, errorResponse{Error: msg})
}

func reply(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, fmt.Appendf(nil, `{"error":%q}`, err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
