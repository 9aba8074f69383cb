// Package jsonhttp writes the JSON answers of sluice's HTTP services (the
// lookup service, the feature store's handler, the live page's API), so
// that every one of them fails with the same body: {"error": "..."}.
package jsonhttp

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// ErrorBody is the body of every failed request.
type ErrorBody struct {
	Error string `json:"error"`
}

// Reply writes body as JSON, one line, with status. A body that does not
// marshal answers 500 with the marshalling error instead.
func Reply(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, fmt.Appendf(nil, `{"error":%q}`, err.Error())
	}
	Write(w, status, append(b, '\n'))
}

// contentType is the Content-Type of every answer. net/http copies header
// values when it writes them, and an append to it allocates anew (its
// capacity is its length), so every answer may share it.
var contentType = []string{"application/json"}

// Write writes js, a JSON body that ends in a newline, with status, as
// [Reply] writes its bodies: for a body marshalled by other means.
func Write(w http.ResponseWriter, status int, js []byte) {
	w.Header()["Content-Type"] = contentType // canonical already; shared, not copied per answer
	w.WriteHeader(status)
	w.Write(js)
}

// Error replies status with msg as the error.
func Error(w http.ResponseWriter, status int, msg string) {
	Reply(w, status, ErrorBody{Error: msg})
}

// Unavailable replies 503 with msg as the error, and asks the client to
// retry in a second.
func Unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	Error(w, http.StatusServiceUnavailable, msg)
}
