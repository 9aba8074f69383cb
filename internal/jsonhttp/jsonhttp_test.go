package jsonhttp

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReply(t *testing.T) {
	for _, tc := range []struct {
		name       string
		write      func(http.ResponseWriter)
		status     int
		body       string
		retryAfter string
	}{
		{"value", func(w http.ResponseWriter) { Reply(w, http.StatusOK, map[string]int{"a": 1}) }, 200, "{\"a\":1}\n", ""},
		{"error", func(w http.ResponseWriter) { Error(w, http.StatusNotFound, `no key "k"`) }, 404, "{\"error\":\"no key \\\"k\\\"\"}\n", ""},
		{"unavailable", func(w http.ResponseWriter) { Unavailable(w, "loading") }, 503, "{\"error\":\"loading\"}\n", "1"},
		{"unmarshallable", func(w http.ResponseWriter) { Reply(w, http.StatusOK, math.Inf(1)) }, 500, "{\"error\":\"json: unsupported value: +Inf\"}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.write(rec)
			if rec.Code != tc.status || rec.Body.String() != tc.body {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if ra := rec.Header().Get("Retry-After"); ra != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, tc.retryAfter)
			}
		})
	}
}
