package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string // header values; nil means no header
		keep bool
	}{
		{"absent", nil, false},
		{"empty", []string{""}, false},
		{"simple", []string{"abc-123"}, true},
		{"all allowed chars", []string{"Az09._:-"}, true},
		{"uuid", []string{"123e4567-e89b-12d3-a456-426614174000"}, true},
		{"max length", []string{strings.Repeat("a", 128)}, true},
		{"too long", []string{strings.Repeat("a", 129)}, false},
		{"space", []string{"abc 123"}, false},
		{"slash", []string{"a/b"}, false},
		{"CRLF injection", []string{"abc\r\nX-Evil: 1"}, false},
		{"LF", []string{"abc\ndef"}, false},
		{"quote", []string{`a"b`}, false},
		{"non-ascii", []string{"ïd"}, false},
		{"json breaker", []string{`{"a":1}`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
				// The header must already be there when the handler runs.
				if got := w.Header().Get("X-Request-Id"); got != seen {
					t.Errorf("response header before next = %q, context id = %q", got, seen)
				}
			}))
			req := newRequest(http.MethodGet, "/", nil)
			if tt.in != nil {
				req.Header["X-Request-Id"] = tt.in
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			got := rec.Header().Get("x-request-id")
			if got != seen {
				t.Fatalf("header %q != context %q", got, seen)
			}
			if tt.keep {
				if got != tt.in[0] {
					t.Fatalf("id = %q, want client id %q kept", got, tt.in[0])
				}
				return
			}
			if !uuidV4.MatchString(got) {
				t.Fatalf("generated id %q is not a UUIDv4", got)
			}
		})
	}
}

func TestRequestIDGeneratedUnique(t *testing.T) {
	t.Parallel()
	const n = 10000
	seen := make(map[string]struct{}, n)
	for range n {
		id := newRequestID()
		if !uuidV4.MatchString(id) {
			t.Fatalf("generated id %q is not a UUIDv4", id)
		}
		if _, dup := seen[id]; dup {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = struct{}{}
	}
}

func TestRequestIDOnErrorResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"envelope", func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, r, api.NewError(api.CodeInvalidJSON, "bad json"))
		}, http.StatusBadRequest},
		{"http.Error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", http.StatusBadGateway)
		}, http.StatusBadGateway},
		{"panic", func(w http.ResponseWriter, r *http.Request) {
			panic("boom")
		}, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := RequestID(Recover(tt.handler))
			req := newRequest(http.MethodPost, "/", nil)
			req.Header.Set("X-Request-Id", "req-42")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("X-Request-Id"); got != "req-42" {
				t.Fatalf("x-request-id = %q, want req-42", got)
			}
		})
	}
}

func TestRequestIDContext(t *testing.T) {
	t.Parallel()
	if got := RequestIDFrom(context.Background()); got != "" {
		t.Fatalf("RequestIDFrom(empty) = %q, want empty", got)
	}
	ctx := WithRequestID(context.Background(), "x1")
	if got := RequestIDFrom(ctx); got != "x1" {
		t.Fatalf("RequestIDFrom = %q, want x1", got)
	}
}
