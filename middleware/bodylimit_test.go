package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 << 10
	var buf syncBuffer
	r := newRouter(zerolog.New(&buf), func(r chi.Router) {
		r.With(BodyLimit(limit)).Post("/echo", func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body) // bounded by BodyLimit
			if err != nil {
				if IsBodyTooLarge(err) {
					WriteError(w, r, BodyTooLargeError(limit))
					return
				}
				WriteError(w, r, api.NewError(api.CodeInvalidRequest, "read failed"))
				return
			}
			_, _ = fmt.Fprintf(w, "%d", len(body))
		})
	})
	srv := newServer(t, r)

	// hideLen makes the client send the body chunked, without Content-Length.
	hideLen := func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b)) }
	tests := []struct {
		name    string
		body    io.Reader
		status  int
		wantLen string
	}{
		{"empty", nil, 200, "0"},
		{"under limit", bytes.NewReader(make([]byte, 100)), 200, "100"},
		{"exactly the limit", bytes.NewReader(make([]byte, limit)), 200, "1024"},
		{"content-length over limit", bytes.NewReader(make([]byte, limit+1)), 413, ""},
		{"content-length far over limit", bytes.NewReader(make([]byte, 8*limit)), 413, ""},
		{"chunked under limit", hideLen(make([]byte, 500)), 200, "500"},
		{"chunked exactly the limit", hideLen(make([]byte, limit)), 200, "1024"},
		{"chunked over limit", hideLen(make([]byte, 3*limit)), 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/echo", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%q)", resp.StatusCode, tt.status, body)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("missing x-request-id")
			}
			if tt.status == 200 {
				if string(body) != tt.wantLen {
					t.Fatalf("handler read %s bytes, want %s", body, tt.wantLen)
				}
				return
			}
			code, typ, msg := decodeEnvelope(t, body)
			if code != "request_too_large" || typ != "invalid_request_error" || msg != "request body is larger than the 1 KiB limit" {
				t.Fatalf("envelope = %s / %s / %s", code, typ, msg)
			}
		})
	}
}

func TestBodyLimitRejectsBeforeReading(t *testing.T) {
	t.Parallel()
	called := false
	h := BodyLimit(10)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	rec := newRecorderRequest(h, http.MethodPost, strings.Repeat("x", 11))
	if called {
		t.Fatal("handler ran for a body whose Content-Length is over the limit")
	}
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d", rec.Code)
	}
}

func TestBodyTooLargeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max  int64
		want string
	}{
		{10 << 20, "request body is larger than the 10 MiB limit"},
		{512 << 10, "request body is larger than the 512 KiB limit"},
		{2 << 30, "request body is larger than the 2 GiB limit"},
		{1536 << 10, "request body is larger than the 1536 KiB limit"},
		{1000, "request body is larger than the 1000 bytes limit"},
		{1, "request body is larger than the 1 byte limit"},
		{0, "request body is larger than the 0 bytes limit"},
	}
	for _, tt := range tests {
		e := BodyTooLargeError(tt.max)
		if e.Message != tt.want || e.Code != api.CodeBodyTooLarge || e.HTTPStatus() != http.StatusRequestEntityTooLarge {
			t.Errorf("BodyTooLargeError(%d) = %q %s %d", tt.max, e.Message, e.Code, e.HTTPStatus())
		}
	}
}

func TestIsBodyTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"eof", io.ErrUnexpectedEOF, false},
		{"max bytes", &http.MaxBytesError{Limit: 1}, true},
		{"wrapped", fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 1}), true},
		{"other", errors.New("request body is larger"), false},
	}
	for _, tt := range tests {
		if got := IsBodyTooLarge(tt.err); got != tt.want {
			t.Errorf("%s: IsBodyTooLarge = %v, want %v", tt.name, got, tt.want)
		}
	}
}
