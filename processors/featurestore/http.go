package featurestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
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
//   - RawEntry(entity string) (topology.Entry[[]byte], bool, error), read in
//     place of both: the vector as the store's table holds it, encoded by
//     [topology.JSON], and the time the store wrote it. When the bytes are
//     what json.Marshal writes for a Vector (as the store writes them), the
//     answer copies them: the same bytes as decoding and marshalling would
//     give, in a fraction of the time; other bytes are decoded. The lookup
//     service's reader has it.
type Reader interface {
	Get(entity string) (Vector, bool, error)
}

// entryReader is the optional Entry method of a [Reader].
type entryReader interface {
	Entry(entity string) (topology.Entry[Vector], bool, error)
}

// rawReader is the optional RawEntry method of a [Reader].
type rawReader interface {
	RawEntry(entity string) (topology.Entry[[]byte], bool, error)
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
	raw, _ := r.(rawReader)
	mux.HandleFunc("GET /features/{entity}", func(w http.ResponseWriter, req *http.Request) {
		if loading(w) {
			return
		}
		entity := req.PathValue("entity")
		if raw != nil {
			answerRaw(w, raw, entity)
			return
		}
		v, asOf, ok, err := read(entity)
		answer(w, entity, v, asOf, ok, err)
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
		if raw != nil {
			batchRaw(w, raw, b.Entities)
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

// answer answers a lookup of entity that read v written at asOf, ok and err.
func answer(w http.ResponseWriter, entity string, v Vector, asOf time.Time, ok bool, err error) {
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
}

// answerRaw answers a lookup of entity from r's RawEntry: with the vector
// copied into the answer if it is in json.Marshal's form, decoded and
// marshalled again otherwise.
func answerRaw(w http.ResponseWriter, r rawReader, entity string) {
	e, ok, err := r.RawEntry(entity)
	if err != nil || !ok {
		answer(w, entity, Vector{}, time.Time{}, ok, err)
		return
	}
	buf := bodies.Get().(*[]byte)
	defer bodies.Put(buf)
	if body, stored := storedAnswer((*buf)[:0], entity, e); stored {
		jsonhttp.Write(w, http.StatusOK, body)
		if cap(body) <= maxPooledBody {
			*buf = body[:0] // the next answer appends to what this one grew
		}
		return
	}
	v, err := topology.JSON[Vector]().Decode(e.Value)
	if err != nil {
		err = fmt.Errorf("featurestore: decode the vector of %q: %w", entity, err)
	}
	answer(w, entity, v, e.AsOf, err == nil, err)
}

// bodies holds buffers for the bodies of single answers: a body is written
// and no longer needed when Write returns (io.Writer's contract), so a lookup
// need not allocate one.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody bounds the buffers kept in bodies: one answer with a huge
// vector does not hold its memory for good.
const maxPooledBody = 64 << 10

// storedAnswer appends to b the body of the answer to a lookup of entity
// that read e, a vector as the store's table holds it, and reports whether
// it could copy the vector into it (see [storedFeatures]).
func storedAnswer(b []byte, entity string, e topology.Entry[[]byte]) ([]byte, bool) {
	obj, ok := storedFeatures(e.Value)
	if !ok {
		return nil, false
	}
	body, err := appendVector(b, false, entity, obj, e.AsOf)
	if err != nil {
		return nil, false
	}
	return append(body, '\n'), true
}

// batchRaw answers POST /features for entities from r's RawEntry, each
// vector copied into the answer if it is in json.Marshal's form (see
// [storedFeatures]), decoded and marshalled again otherwise.
func batchRaw(w http.ResponseWriter, r rawReader, entities []string) {
	body := append(make([]byte, 0, 16+len(entities)*384), `{"vectors":[`...)
	for i, entity := range entities {
		e, ok, err := r.RawEntry(entity)
		if errors.Is(err, topology.ErrViewNotRunning) {
			jsonhttp.Unavailable(w, err.Error())
			return
		}
		if i > 0 {
			body = append(body, ',')
		}
		if obj, stored := storedFeatures(e.Value); err == nil && ok && stored {
			if b, aerr := appendVector(body, true, entity, obj, e.AsOf); aerr == nil {
				body = b
				continue
			}
		}
		bv := BatchVector{Entity: entity, Found: ok && err == nil}
		if err == nil && ok {
			var v Vector
			if v, err = topology.JSON[Vector]().Decode(e.Value); err != nil {
				bv.Found, err = false, fmt.Errorf("featurestore: decode the vector of %q: %w", entity, err)
			}
			bv.Features, bv.AsOf = v.Features, e.AsOf
		}
		if err != nil {
			bv.Features, bv.AsOf, bv.Error = nil, time.Time{}, err.Error()
		}
		js, err := json.Marshal(bv)
		if err != nil { // as jsonhttp.Reply answers a body that does not marshal
			jsonhttp.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		body = append(body, js...)
	}
	jsonhttp.Write(w, http.StatusOK, append(body, "]}\n"...))
}
