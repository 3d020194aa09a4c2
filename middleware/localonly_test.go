package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// serveLocalOnly sends one request with host and origin (nil: no Origin
// header) through LocalOnly(allowed) and returns the recorder and whether
// the handler behind it ran.
func serveLocalOnly(t *testing.T, allowed []string, host string, origin *string, shape func(http.Handler) http.Handler) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	ran := false
	h := Entries(shape(LocalOnly(allowed, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true }))))
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader("{}"))
	req.Host = host
	if origin != nil {
		req.Header.Set("Origin", *origin)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, ran
}

func noShape(h http.Handler) http.Handler { return h }

// TestLocalOnlyHost: only localhost, loopback addresses (any port) and the
// configured listen address are served; a rebinding name is refused.
func TestLocalOnlyHost(t *testing.T) {
	t.Parallel()
	allowed := []string{"MyBox.lan:8080"}
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"localhost:8080", true},
		{"localhost", true},
		{"LOCALHOST.:9", true},
		{"127.0.0.1:1", true},
		{"127.0.0.1", true},
		{"127.8.9.10:80", true},
		{"[::1]:80", true},
		{"[::1]", true},
		{"mybox.lan:8080", true}, // the listen address, any case
		{"mybox.lan:8081", false},
		{"mybox.lan", false},
		{"evil.example", false},
		{"evil.example:8080", false},
		{"127.0.0.1.nip.io", false},
		{"127.0.0.1.nip.io:8080", false},
		{"localhost.evil.example", false},
		{"10.0.0.1:8080", false},
		{"[::ffff:8.8.8.8]:80", false},
		{"", false},
	} {
		rec, ran := serveLocalOnly(t, allowed, tt.host, nil, noShape)
		if ran != tt.ok {
			t.Errorf("Host %q: served %v, want %v (status %d)", tt.host, ran, tt.ok, rec.Code)
			continue
		}
		if !tt.ok {
			checkRefusal(t, "Host "+tt.host, rec, "is not this machine")
		}
	}
}

// TestLocalOnlyOrigin: requests from a page are refused unless the page is
// a loopback origin; no Origin (SDKs, curl) is served.
func TestLocalOnlyOrigin(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	for _, tt := range []struct {
		name   string
		origin *string
		ok     bool
	}{
		{"absent", nil, true},
		{"localhost", str("http://localhost:3000"), true},
		{"loopback v4", str("http://127.0.0.1"), true},
		{"loopback v6", str("https://[::1]:8443"), true},
		{"listen address", str("http://mybox.lan:8080"), true},
		{"evil", str("https://evil.example"), false},
		{"rebinding name", str("http://127.0.0.1.nip.io:8080"), false},
		{"null", str("null"), false},
		{"empty", str(""), false},
		{"extension", str("chrome-extension://abcdef"), false},
	} {
		rec, ran := serveLocalOnly(t, []string{"mybox.lan:8080"}, "127.0.0.1:8080", tt.origin, noShape)
		if ran != tt.ok {
			t.Errorf("Origin %s: served %v, want %v (status %d)", tt.name, ran, tt.ok, rec.Code)
			continue
		}
		if !tt.ok {
			checkRefusal(t, "Origin "+tt.name, rec, "not a loopback origin")
		}
	}
}

// TestLocalOnlyAnthropicShape: a refusal on a Messages route answers in the
// Anthropic shape.
func TestLocalOnlyAnthropicShape(t *testing.T) {
	t.Parallel()
	rec, ran := serveLocalOnly(t, nil, "evil.example", nil, ErrorShape(api.ShapeAnthropic))
	if ran || rec.Code != http.StatusForbidden {
		t.Fatalf("served %v, status %d", ran, rec.Code)
	}
	var body struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Type != "error" || body.Error.Type != "permission_error" {
		t.Errorf("body %s, want an Anthropic permission_error", rec.Body)
	}
}

// checkRefusal holds rec to a 403 forbidden in the OpenAI envelope whose
// message contains want.
func checkRefusal(t *testing.T, what string, rec *httptest.ResponseRecorder, want string) {
	t.Helper()
	var env struct {
		Error struct{ Code, Message string }
	}
	if rec.Code != http.StatusForbidden {
		t.Errorf("%s: status %d, want 403", what, rec.Code)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code != string(api.CodeForbidden) ||
		!strings.Contains(env.Error.Message, want) || !strings.Contains(env.Error.Message, "--no-auth") {
		t.Errorf("%s: body %s, want code forbidden and a message saying %q", what, rec.Body, want)
	}
}

// TestLocalOnlyForwardedClient: with trusted proxies, a request a loopback
// proxy forwards for another machine is not local, though its Host is a
// loopback address (what nginx sends for proxy_pass http://127.0.0.1:8080);
// one it forwards for a local program is, and without trusted proxies the
// header is not read at all.
func TestLocalOnlyForwardedClient(t *testing.T) {
	t.Parallel()
	loopback := NewClientIP([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	for _, tt := range []struct {
		name     string
		clientIP func(*http.Request) string
		peer     string
		xff      []string
		ok       bool
	}{
		{"remote client through a loopback proxy", loopback, "127.0.0.1:40000", []string{"203.0.113.5"}, false},
		{"remote IPv6 client through a loopback proxy", loopback, "127.0.0.1:40000", []string{"2001:db8::5", "127.0.0.1"}, false},
		{"local program through a loopback proxy", loopback, "127.0.0.1:40000", []string{"127.0.0.1"}, true},
		{"IPv6 loopback program through the proxy", loopback, "127.0.0.1:40000", []string{"::1"}, true},
		{"local program, no header", loopback, "127.0.0.1:40000", nil, true},
		{"forged header from an untrusted local peer", loopback, "[::1]:40000", []string{"203.0.113.5"}, true},
		{"no trusted proxies: the header is not read", nil, "127.0.0.1:40000", []string{"203.0.113.5"}, true},
	} {
		ran := false
		h := Entries(LocalOnly(nil, tt.clientIP)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true })))
		req := xffRequest(tt.peer, tt.xff...)
		req.Host = "127.0.0.1:8080"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ran != tt.ok {
			t.Errorf("%s: served %v, want %v (status %d)", tt.name, ran, tt.ok, rec.Code)
			continue
		}
		if !tt.ok {
			checkRefusal(t, tt.name, rec, "Request forwarded for \""+tt.xff[0]+"\", which is not this machine")
		}
	}
}
