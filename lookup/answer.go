package lookup

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/jsonhttp"
	"github.com/sluicehq/sluice/topology"
)

// Headers of every lookup answer that say how current it may be.
const (
	// HeaderAge is the seconds (with three decimals) since the view that
	// answered last heard from the broker: the answer may lack updates
	// written since. Absent if the view never heard from it.
	HeaderAge = "Sluice-View-Age"
	// HeaderLag is how many changelog offsets written before the view last
	// heard from the broker it lacks (an upper bound of the updates): 0 means
	// the answer is current as of that time. Absent when unknown.
	HeaderLag = "Sluice-View-Lag"
)

// MaxBatch is the most keys one POST /tables/{table} may ask for.
const MaxBatch = 1000

// maxBatchBody bounds the body of POST /tables/{table}.
const maxBatchBody = 1 << 20

// Value is the answer to GET /tables/{table}/{key}.
type Value struct {
	Table string `json:"table"`
	Key   string `json:"key"`
	// Value is the value decoded with the table's codec and marshalled to
	// JSON; the bytes of a table of bytes, if they are JSON, else a JSON
	// string of them.
	Value json.RawMessage `json:"value"`
	// AsOf is when the value became the table's value: the time of its
	// changelog record. Omitted if the record had none.
	AsOf time.Time `json:"as_of,omitzero"`
}

// BatchRequest is the body of POST /tables/{table}.
type BatchRequest struct {
	Keys []string `json:"keys"`
}

// Batch is the answer to POST /tables/{table}: one [Entry] per key asked
// for, in the same order.
type Batch struct {
	Table  string  `json:"table"`
	Values []Entry `json:"values"`
}

// Entry is the answer for one key of a [BatchRequest].
type Entry struct {
	Key string `json:"key"`
	// Found is false for a key without a value.
	Found bool            `json:"found"`
	Value json.RawMessage `json:"value,omitempty"`
	AsOf  time.Time       `json:"as_of,omitzero"`
	// Error says why the value could not be read or decoded; Found is
	// false then.
	Error string `json:"error,omitempty"`
}

// get answers GET /tables/{table}/{key}.
func (s *Server) get(t *table, w http.ResponseWriter, r *http.Request) {
	if !t.view.Recovered() {
		loading(w, t)
		return
	}
	key := r.PathValue("key")
	e, ok, err := t.entry(key)
	t.count(ok, err)
	var js json.RawMessage
	if err == nil && ok {
		js, err = valueJSON(e.Value)
	}
	switch {
	case errors.Is(err, topology.ErrViewNotRunning):
		jsonhttp.Unavailable(w, err.Error())
	case err != nil:
		jsonhttp.Error(w, http.StatusInternalServerError, err.Error())
	case !ok:
		jsonhttp.Error(w, http.StatusNotFound, fmt.Sprintf("no value for key %q in table %q", key, t.name))
	default:
		jsonhttp.Reply(w, http.StatusOK, Value{Table: t.name, Key: key, Value: js, AsOf: e.AsOf})
	}
}

// batch answers POST /tables/{table}.
func (s *Server) batch(t *table, w http.ResponseWriter, r *http.Request) {
	var b BatchRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBatchBody)).Decode(&b); err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, fmt.Sprintf(`want a body like {"keys": ["k1", "k2"]}: %v`, err))
		return
	}
	if len(b.Keys) > MaxBatch {
		jsonhttp.Error(w, http.StatusBadRequest, fmt.Sprintf("%d keys: ask for at most %d per request", len(b.Keys), MaxBatch))
		return
	}
	if !t.view.Recovered() {
		loading(w, t)
		return
	}
	out := Batch{Table: t.name, Values: make([]Entry, len(b.Keys))}
	for i, key := range b.Keys {
		e, ok, err := t.entry(key)
		t.count(ok, err)
		if errors.Is(err, topology.ErrViewNotRunning) {
			jsonhttp.Unavailable(w, err.Error())
			return
		}
		v := Entry{Key: key}
		if err == nil && ok {
			v.Value, err = valueJSON(e.Value)
			v.AsOf = e.AsOf
		}
		if err != nil {
			v.Value, v.AsOf, v.Error = nil, time.Time{}, err.Error()
		} else {
			v.Found = ok
		}
		out.Values[i] = v
	}
	jsonhttp.Reply(w, http.StatusOK, out)
}

// valueJSON marshals v, a value decoded with a table's codec, to JSON;
// bytes are shown as themselves if they are JSON, else as a JSON string.
func valueJSON(v any) (json.RawMessage, error) {
	if b, ok := v.([]byte); ok {
		if json.Valid(b) {
			return b, nil
		}
		s := string(b)
		if !utf8.Valid(b) {
			s = fmt.Sprintf("%q", b)
		}
		return json.Marshal(s)
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("the value does not marshal to JSON: %w", err)
	}
	return js, nil
}

// setFreshness sets the headers that say how current an answer from a view
// with freshness f is at now.
func setFreshness(h http.Header, f topology.Freshness, now time.Time) {
	if age := f.Age(now); age >= 0 {
		h.Set(HeaderAge, strconv.FormatFloat(age.Seconds(), 'f', 3, 64))
	}
	if f.Lag >= 0 {
		h.Set(HeaderLag, strconv.FormatInt(f.Lag, 10))
	}
}

// loading answers 503 for a table whose view has never recovered.
func loading(w http.ResponseWriter, t *table) {
	jsonhttp.Unavailable(w, fmt.Sprintf("table %q is still loading: its view has not caught up with the changelog yet", t.name))
}
