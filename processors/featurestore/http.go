package featurestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/jsonhttp"
	"github.com/sluicehq/sluice/topology"
)

// Reader reads feature vectors by entity. A [*topology.View] of the store's
// table is one; a test may pass a map-backed fake.
//
// Optional methods, which a View has, make [Handler] say more:
//   - Recovered() bool: Handler answers 503 until it reports true, since
//     before a view has caught up with the table an entity it has not read
//     yet would look unknown. A View's stays true from its first recovery on,
//     through broker outages.
//   - Entry(entity string) (topology.Entry[Vector], bool, error), read in
//     place of Get: answers carry the time the store wrote the vector.
type Reader interface {
	Get(entity string) (Vector, bool, error)
}

// entryReader is the optional Entry method of a [Reader].
type entryReader interface {
	Entry(entity string) (topology.Entry[Vector], bool, error)
}

// Response is the body of a successful lookup.
type Response struct {
	Entity   string             `json:"entity"`
	Features map[string]Feature `json:"features"`
	// AsOf is when the store last wrote the vector (the time of its table
	// record); each feature has its own AsOf, the event time it was computed
	// as of. Omitted when the Reader does not say.
	AsOf time.Time `json:"as_of,omitzero"`
}

// BatchRequest is the body of POST /features: the entities to look up, at
// most [MaxBatch].
type BatchRequest struct {
	Entities []string `json:"entities"`
}

// BatchResponse is the answer to POST /features: one vector per entity
// asked for, in the same order.
type BatchResponse struct {
	Vectors []BatchVector `json:"vectors"`
}

// BatchVector is the answer for one entity of a [BatchRequest].
type BatchVector struct {
	Entity string `json:"entity"`
	// Found is false for an entity the store has no features of.
	Found    bool               `json:"found"`
	Features map[string]Feature `json:"features,omitempty"`
	AsOf     time.Time          `json:"as_of,omitzero"`
	// Error says why the vector could not be read; Found is false then.
	Error string `json:"error,omitempty"`
}

// MaxBatch is the most entities one POST /features may ask for.
const MaxBatch = 1000

// maxBatchBody bounds the body of POST /features.
const maxBatchBody = 1 << 20

// Handler returns the lookup service:
//
//   - GET /features/{entity} answers 200 with a [Response] in JSON (each
//     feature's value and the time it was computed as of), 404 for an entity
//     the store has no features of.
//   - POST /features with a [BatchRequest] answers 200 with a
//     [BatchResponse], and 400 for a body that is not one or asks for more than
//     [MaxBatch] entities.
//
// Both answer 503 with Retry-After while r has not recovered or is not
// running, and 500 if r fails otherwise. Errors come as {"error": "..."}. The
// handler is safe for concurrent use if r is. The serve command of every
// sluice binary (package lookup) serves it with health checks, metrics and
// headers saying how current the answers are.
func Handler(r Reader) http.Handler {
	mux := http.NewServeMux()
	recovered, _ := r.(interface{ Recovered() bool })
	entries, _ := r.(entryReader)
	read := func(entity string) (Vector, time.Time, bool, error) {
		if entries != nil {
			e, ok, err := entries.Entry(entity)
			return e.Value, e.AsOf, ok, err
		}
		v, ok, err := r.Get(entity)
		return v, time.Time{}, ok, err
	}
	loading := func(w http.ResponseWriter) bool {
		if recovered != nil && !recovered.Recovered() {
			jsonhttp.Unavailable(w, "the feature store is still loading")
			return true
		}
		return false
	}
	mux.HandleFunc("GET /features/{entity}", func(w http.ResponseWriter, req *http.Request) {
		if loading(w) {
			return
		}
		entity := req.PathValue("entity")
		v, asOf, ok, err := read(entity)
		switch {
		case errors.Is(err, topology.ErrViewNotRunning):
			jsonhttp.Unavailable(w, err.Error())
		case err != nil:
			jsonhttp.Error(w, http.StatusInternalServerError, err.Error())
		case !ok:
			jsonhttp.Error(w, http.StatusNotFound, fmt.Sprintf("unknown entity %q", entity))
		default:
			jsonhttp.Reply(w, http.StatusOK, Response{Entity: entity, Features: v.Features, AsOf: asOf})
		}
	})
	mux.HandleFunc("POST /features", func(w http.ResponseWriter, req *http.Request) {
		var b BatchRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxBatchBody))
		if err := dec.Decode(&b); err != nil {
			jsonhttp.Error(w, http.StatusBadRequest, fmt.Sprintf(`want a body like {"entities": ["e1", "e2"]}: %v`, err))
			return
		}
		if len(b.Entities) > MaxBatch {
			jsonhttp.Error(w, http.StatusBadRequest, fmt.Sprintf("%d entities: ask for at most %d per request", len(b.Entities), MaxBatch))
			return
		}
		if loading(w) {
			return
		}
		out := BatchResponse{Vectors: make([]BatchVector, len(b.Entities))}
		for i, entity := range b.Entities {
			v, asOf, ok, err := read(entity)
			if errors.Is(err, topology.ErrViewNotRunning) {
				jsonhttp.Unavailable(w, err.Error())
				return
			}
			bv := BatchVector{Entity: entity, Found: ok && err == nil}
			if err != nil {
				bv.Error = err.Error()
			} else if ok {
				bv.Features, bv.AsOf = v.Features, asOf
			}
			out.Vectors[i] = bv
		}
		jsonhttp.Reply(w, http.StatusOK, out)
	})
	return mux
}
