package middleware

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a goroutine-safe log sink: with a real server the access log
// line is written on the server's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses every JSON log line written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if ln == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", ln, err)
		}
		out = append(out, m)
	}
	return out
}

// waitLines waits (generously) until at least n log lines were written.
func (b *syncBuffer) waitLines(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ls := b.lines(t)
		if len(ls) >= n || time.Now().After(deadline) {
			if len(ls) < n {
				t.Fatalf("got %d log lines, want %d: %s", len(ls), n, b.String())
			}
			return ls
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// accessLines returns only the access log lines (those with a method field).
func accessLines(ls []map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range ls {
		if _, ok := l["method"]; ok {
			out = append(out, l)
		}
	}
	return out
}

// newRouter builds the production order of middlewares on a chi router and
// lets the test add routes.
func newRouter(logger zerolog.Logger, routes func(chi.Router)) *chi.Mux {
	r := chi.NewRouter()
	r.Use(RequestID, accessLog(logger), Recover)
	routes(r)
	return r
}

// newServer starts a loopback server for h, closed with the test.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	// Aborted handlers are expected here; keep net/http's own log quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// decodeEnvelope reads an OpenAI error envelope.
func decodeEnvelope(t *testing.T, body []byte) (code, typ, message string) {
	t.Helper()
	var env struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body is not an error envelope: %q: %v", body, err)
	}
	return env.Error.Code, env.Error.Type, env.Error.Message
}

// accessLog is AccessLog on the real clock behind Entries, which installs
// the Entry it reads.
func accessLog(l zerolog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return Entries(AccessLog(l, nil, nil)(next)) }
}

// newRequest is httptest.NewRequest with an Entry in its context, as
// Entries gives every request the router serves.
func newRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	return r.WithContext(WithEntry(r.Context()))
}
