package middleware

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

// benchWriter is a reusable ResponseWriter so the benchmark measures the
// middlewares, not the recorder.
type benchWriter struct{ h http.Header }

func (b *benchWriter) Header() http.Header         { return b.h }
func (b *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (b *benchWriter) WriteHeader(int)             {}
func (b *benchWriter) Flush()                      {}

var okBody = []byte("ok")

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(okBody) }

func runBench(b *testing.B, h http.Handler, clientID bool) {
	req := newRequest(http.MethodGet, "/v1/models", nil)
	if clientID {
		req.Header.Set("X-Request-Id", "client-request-1")
	}
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkMiddlewareChain measures RequestID+AccessLog+Recover around a
// trivial handler, with the access line encoded to io.Discard.
func BenchmarkMiddlewareChain(b *testing.B) {
	logger := zerolog.New(io.Discard)
	chain := RequestID(accessLog(logger)(Recover(http.HandlerFunc(okHandler))))
	b.Run("generated id", func(b *testing.B) { runBench(b, chain, false) })
	b.Run("client id", func(b *testing.B) { runBench(b, chain, true) })
	b.Run("chi router", func(b *testing.B) {
		r := chi.NewRouter()
		r.Use(RequestID, accessLog(logger), Recover)
		r.Get("/v1/models", okHandler)
		runBench(b, r, false)
	})
	b.Run("bare handler", func(b *testing.B) { runBench(b, http.HandlerFunc(okHandler), false) })
}

// BenchmarkDetacherPOST measures what Detacher.Middleware adds to a POST
// that is not detached (a non-stream answer): its context, writer and body,
// on a request whose context is cancellable as net/http's is.
func BenchmarkDetacherPOST(b *testing.B) {
	logger := zerolog.New(io.Discard)
	r := chi.NewRouter()
	r.Use(RequestID, accessLog(logger), Recover)
	r.With(BodyLimit(1<<20)).Post("/v1/chat/completions", okHandler)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", http.NoBody).WithContext(ctx)
	req.Body = io.NopCloser(strings.NewReader(""))
	run := func(b *testing.B, h http.Handler) {
		w := &benchWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	}
	b.Run("without", func(b *testing.B) { run(b, r) })
	d := NewDetacher(nil)
	defer d.Close()
	b.Run("detachable", func(b *testing.B) { run(b, d.Middleware(r)) })
}
