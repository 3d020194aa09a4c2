package middleware

import (
	"io"
	"net/http"
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
