package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

func TestAccessLogFields(t *testing.T) {
	t.Parallel()
	const (
		bearer      = "sk-authorization-secret"
		querySecret = "sk-query-secret"
		pathSecret  = "path-secret-id"
	)
	var buf syncBuffer
	r := newRouter(zerolog.New(&buf), func(r chi.Router) {
		r.Post("/v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
			e := EntryFrom(r.Context())
			e.SetModel("gpt-4o")
			e.SetStream(true)
			e.SetKeyID("key_7")
			e.SetUpstream(http.StatusOK, 1500*time.Microsecond)
			e.SetErrorCode("upstream_timeout")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte("hello"))
		})
	})

	req := newRequest(http.MethodPost, "/v1/items/"+pathSecret+"?api_key="+querySecret, strings.NewReader("body-secret"))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("X-Request-Id", "rid-1")
	req.RemoteAddr = "203.0.113.9:54321"
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)

	ls := accessLines(buf.lines(t))
	if len(ls) != 1 {
		t.Fatalf("got %d access lines, want 1: %s", len(ls), buf.String())
	}
	l := ls[0]
	want := map[string]any{
		"level":           "info",
		"request_id":      "rid-1",
		"method":          "POST",
		"route":           "/v1/items/{id}",
		"status":          float64(201),
		"bytes":           float64(5),
		"model":           "gpt-4o",
		"stream":          true,
		"key_id":          "key_7",
		"upstream_status": float64(200),
		"upstream_ms":     1.5,
		"error_code":      "upstream_timeout",
		"remote":          "203.0.113.9",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %#v, want %#v", k, l[k], v)
		}
	}
	if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %#v, want a non-negative number", l["duration_ms"])
	}
	for _, k := range []string{"path", "url", "query", "headers", "authorization"} {
		if _, ok := l[k]; ok {
			t.Errorf("field %q must not be logged", k)
		}
	}
	out := buf.String()
	for _, secret := range []string{bearer, querySecret, pathSecret, "body-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log output contains %q: %s", secret, out)
		}
	}
}

func TestAccessLogStatusAndLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		path      string
		wantRoute string
		status    float64
		level     string
		bytes     float64
	}{
		{"implicit 200 with no write", http.MethodGet, "/empty", "/empty", 200, "info", 0},
		{"write without WriteHeader", http.MethodGet, "/write", "/write", 200, "info", 2},
		{"4xx envelope", http.MethodGet, "/fail400", "/fail400", 400, "info", -1},
		{"5xx is warn", http.MethodGet, "/fail503", "/fail503", 503, "warn", -1},
		{"recovered panic", http.MethodGet, "/panic", "/panic", 500, "warn", -1},
		{"unmatched", http.MethodGet, "/nope?x=secret", "unmatched", 404, "info", -1},
		{"subrouter pattern", http.MethodGet, "/v1/sub/42", "/v1/sub/{n}", 200, "info", 0},
	}
	var buf syncBuffer
	r := newRouter(zerolog.New(&buf), func(r chi.Router) {
		r.Get("/empty", func(http.ResponseWriter, *http.Request) {})
		r.Get("/write", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		r.Get("/fail400", func(w http.ResponseWriter, r *http.Request) { WriteError(w, r, api.NewError(api.CodeInvalidJSON, "x")) })
		r.Get("/fail503", func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, r, api.NewError(api.CodeCopilotUnavailable, "x"))
		})
		r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
		r.Route("/v1/sub", func(r chi.Router) {
			r.Get("/{n}", func(http.ResponseWriter, *http.Request) {})
		})
	})
	for _, tt := range tests {
		// Sequential on one buffer so each line maps to its case.
		before := len(buf.lines(t))
		req := newRequest(tt.method, tt.path, nil)
		req.Header.Set("X-Request-Id", "rid-"+strings.ReplaceAll(tt.name, " ", "_"))
		r.ServeHTTP(httptest.NewRecorder(), req)
		ls := accessLines(buf.lines(t)[before:])
		if len(ls) != 1 {
			t.Fatalf("%s: got %d access lines, want 1", tt.name, len(ls))
		}
		l := ls[0]
		if l["route"] != tt.wantRoute || l["status"] != tt.status || l["level"] != tt.level {
			t.Errorf("%s: route=%v status=%v level=%v, want %v %v %v", tt.name, l["route"], l["status"], l["level"], tt.wantRoute, tt.status, tt.level)
		}
		if tt.bytes >= 0 && l["bytes"] != tt.bytes {
			t.Errorf("%s: bytes = %v, want %v", tt.name, l["bytes"], tt.bytes)
		}
		// Unset annotations are omitted, not logged as zero values.
		for _, k := range []string{"model", "stream", "key_id", "upstream_status", "upstream_ms"} {
			if _, ok := l[k]; ok {
				t.Errorf("%s: empty field %q should be omitted", tt.name, k)
			}
		}
		if tt.status == 500 && l["error_code"] != string(api.CodeInternal) {
			t.Errorf("%s: error_code = %v, want internal_error", tt.name, l["error_code"])
		}
	}
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("raw path leaked into the log: %s", buf.String())
	}
}

// TestAccessLogPath: an unmatched route (404 or 405) logs its path, without
// the query and clipped; a matched route logs no path.
func TestAccessLogPath(t *testing.T) {
	t.Parallel()
	long := "/" + strings.Repeat("a", 299)
	tests := []struct {
		name   string
		method string
		target string
		status float64
		path   any // nil: no path field
	}{
		{"unmatched 404 without query", http.MethodGet, "/nope/x?api_key=sk-secret", 404, "/nope/x"},
		{"unmatched 405", http.MethodPost, "/known", 405, "/known"},
		{"escaped", http.MethodGet, "/a%0Ab%2Fc", 404, "/a%0Ab%2Fc"},
		{"matched logs no path", http.MethodGet, "/known?q=1", 200, nil},
		{"300-byte path is clipped", http.MethodGet, long, 404, long[:200] + "…"},
	}
	var buf syncBuffer
	r := newRouter(zerolog.New(&buf), func(r chi.Router) {
		r.Get("/known", func(http.ResponseWriter, *http.Request) {})
	})
	for _, tt := range tests {
		before := len(buf.lines(t))
		r.ServeHTTP(httptest.NewRecorder(), newRequest(tt.method, tt.target, nil))
		ls := accessLines(buf.lines(t)[before:])
		if len(ls) != 1 {
			t.Fatalf("%s: got %d access lines, want 1", tt.name, len(ls))
		}
		if got := ls[0]["path"]; got != tt.path || ls[0]["status"] != tt.status {
			t.Errorf("%s: path = %#v status = %v, want %#v %v", tt.name, got, ls[0]["status"], tt.path, tt.status)
		}
	}
	if strings.Contains(buf.String(), "sk-secret") {
		t.Errorf("query leaked into the log: %s", buf.String())
	}
}

func TestAccessLogAbortedIsLogged(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	h := RequestID(accessLog(zerolog.New(&buf))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	})))
	func() {
		defer func() {
			if rec := recover(); rec != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler to keep unwinding", rec)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), newRequest(http.MethodGet, "/", nil))
	}()
	ls := accessLines(buf.lines(t))
	if len(ls) != 1 {
		t.Fatalf("got %d access lines, want 1", len(ls))
	}
	l := ls[0]
	if l["aborted"] != true || l["level"] != "warn" || l["bytes"] != float64(7) || l["status"] != float64(200) {
		t.Fatalf("aborted line = %v", l)
	}
}

func TestLoggerFrom(t *testing.T) {
	t.Parallel()
	t.Run("request scoped", func(t *testing.T) {
		t.Parallel()
		var buf syncBuffer
		h := RequestID(accessLog(zerolog.New(&buf))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l := LoggerFrom(r.Context())
			if LoggerFrom(r.Context()) != l {
				t.Error("LoggerFrom should return the same request logger each time")
			}
			l.Info().Msg("inside")
		})))
		req := newRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Request-Id", "rid-inner")
		h.ServeHTTP(httptest.NewRecorder(), req)
		ls := buf.lines(t)
		if len(ls) != 2 {
			t.Fatalf("got %d lines, want 2: %s", len(ls), buf.String())
		}
		if ls[0]["message"] != "inside" || ls[0]["request_id"] != "rid-inner" {
			t.Fatalf("inner line = %v, want message inside with request_id", ls[0])
		}
	})
	t.Run("absent is disabled", func(t *testing.T) {
		t.Parallel()
		l := LoggerFrom(context.Background())
		if l == nil || l.GetLevel() != zerolog.Disabled {
			t.Fatalf("fallback logger = %v, want a disabled logger", l)
		}
	})
	t.Run("WithLogger", func(t *testing.T) {
		t.Parallel()
		var buf syncBuffer
		ctx := WithLogger(context.Background(), zerolog.New(&buf).With().Str("k", "v").Logger())
		LoggerFrom(ctx).Info().Msg("hi")
		ls := buf.lines(t)
		if len(ls) != 1 || ls[0]["k"] != "v" {
			t.Fatalf("lines = %v", ls)
		}
	})
}

// TestEntryFromWithoutEntries: a request that did not go through Entries is
// a wiring bug that must show at once, not annotate a throwaway Entry.
func TestEntryFromWithoutEntries(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("EntryFrom without Entries did not panic")
		}
	}()
	EntryFrom(context.Background())
}

func TestEntryGettersAndSetters(t *testing.T) {
	t.Parallel()
	var a *Entry
	Entries(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a = EntryFrom(r.Context())
		if EntryFrom(r.Context()) != a {
			t.Error("EntryFrom returns a different Entry within one request")
		}
	})).ServeHTTP(httptest.NewRecorder(), newRequest(http.MethodGet, "/", nil))
	a.SetModel("m")
	a.SetStream(true)
	a.SetKeyID("k")
	a.SetUpstream(502, time.Second)
	a.SetErrorCode("upstream_error")
	if a.Model() != "m" || !a.Stream() || a.KeyID() != "k" || a.UpstreamStatus() != 502 ||
		a.UpstreamDuration() != time.Second || a.ErrorCode() != "upstream_error" {
		t.Fatalf("getters do not return what was set: %+v", a)
	}
	long := strings.Repeat("é", 300)
	a.SetModel(long)
	if m := a.Model(); len(m) > maxModelName+len("…") || !utf8.ValidString(m) {
		t.Fatalf("a long model name is kept as %d bytes (valid UTF-8: %v)", len(m), utf8.ValidString(m))
	}
}

func TestAccessStateContext(t *testing.T) {
	t.Parallel()
	// The custom context must keep cancellation and other values working.
	parent, cancel := context.WithCancel(WithRequestID(context.Background(), "rid"))
	var inner context.Context
	h := accessLog(zerolog.Nop())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = r.Context()
	}))
	h.ServeHTTP(httptest.NewRecorder(), newRequest(http.MethodGet, "/", nil).WithContext(parent))
	if RequestIDFrom(inner) != "rid" {
		t.Fatal("parent values lost")
	}
	child, cancelChild := context.WithCancel(inner)
	defer cancelChild()
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the parent did not cancel a context derived from the request context")
	}
}

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::1]:8080", "::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"::1", "::1"},
		{"192.0.2.1", "192.0.2.1"},
		{"", ""},
		{"@", "@"}, // unix socket peers
	}
	for _, tt := range tests {
		if got := remoteIP(tt.in); got != tt.want {
			t.Errorf("remoteIP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAccessLogClientAddress: remote is the client as the resolver gives
// it, and peer (the proxy) is logged only when it differs.
func TestAccessLogClientAddress(t *testing.T) {
	t.Parallel()
	resolve := NewClientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, tt := range []struct {
		name       string
		clientIP   func(*http.Request) string
		peer       string
		xff        []string
		remote     string
		loggedPeer any
	}{
		{"through a trusted proxy", resolve, "10.0.0.1:5", []string{"203.0.113.5"}, "203.0.113.5", "10.0.0.1"},
		{"direct", resolve, "203.0.113.7:5", []string{"198.51.100.1"}, "203.0.113.7", nil},
		{"trusted proxy, no header", resolve, "10.0.0.1:5", nil, "10.0.0.1", nil},
		{"no resolver", nil, "10.0.0.1:5", []string{"203.0.113.5"}, "10.0.0.1", nil},
	} {
		var buf syncBuffer
		h := Entries(AccessLog(zerolog.New(&buf), nil, tt.clientIP)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
		h.ServeHTTP(httptest.NewRecorder(), xffRequest(tt.peer, tt.xff...))
		ls := accessLines(buf.lines(t))
		if len(ls) != 1 {
			t.Fatalf("%s: %d access lines: %s", tt.name, len(ls), buf.String())
		}
		if ls[0]["remote"] != tt.remote || ls[0]["peer"] != tt.loggedPeer {
			t.Errorf("%s: remote %v, peer %v; want %v, %v", tt.name, ls[0]["remote"], ls[0]["peer"], tt.remote, tt.loggedPeer)
		}
	}
}
