package middleware

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestWriteJSON: the value with a newline, its length and type, the status;
// a value that cannot be encoded is a 500 envelope.
func TestWriteJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		v      any
		status int
		body   string
	}{
		{"value", map[string]int{"a": 1}, http.StatusCreated, "{\"a\":1}\n"},
		{"unencodable", func() {}, http.StatusInternalServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			WriteJSON(rec, newRequest(http.MethodGet, "/", nil), http.StatusCreated, tt.v)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content-type = %q", ct)
			}
			if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Fatalf("content-length = %q for %d bytes", cl, rec.Body.Len())
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Fatalf("body = %q, want %q", rec.Body.String(), tt.body)
			}
			if tt.body == "" {
				if code, _, _ := decodeEnvelope(t, rec.Body.Bytes()); code != "internal_error" {
					t.Fatalf("code = %q", code)
				}
			}
		})
	}
}
