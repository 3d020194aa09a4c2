package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

// TestPostWithoutContentTypeIs415: every POST route that reads a body
// refuses one without a Content-Type (what a cross-site "simple" request
// from a web page may send), in its own error shape, before any upstream
// call, and says what to send.
func TestPostWithoutContentTypeIs415(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), `{}`), nil
	}}
	ts := start(t, up)
	for _, path := range []string{"/v1/chat/completions", "/chat/completions", "/v1/responses", "/responses", "/v1/embeddings", "/embeddings"} {
		resp, body := do(t, ts, http.MethodPost, path, "", `{"model":"m","messages":[{"role":"user","content":"hi"}],"input":"hi"}`)
		e := wantEnvelope(t, resp, body, http.StatusUnsupportedMediaType, "unsupported_media_type")
		if !strings.Contains(e.Error.Message, "Content-Type: application/json") {
			t.Errorf("%s: message %q does not say what to send", path, e.Error.Message)
		}
	}
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
		resp, body := do(t, ts, http.MethodPost, path, "", `{"model":"claude-sonnet-4.5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), `"type":"error"`) ||
			!strings.Contains(string(body), "Content-Type: application/json") {
			t.Errorf("%s: status %d, body %s; want an Anthropic 415 saying what to send", path, resp.StatusCode, body)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Errorf("%d upstream calls for requests without a content type", n)
	}
}

// sendAs sends a GET or a JSON POST to ts addressed to host, with origin
// unless empty.
func sendAs(t *testing.T, ts *httptest.Server, method, path, host, origin string) (int, string) {
	t.Helper()
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(`{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLocalOnlyRoutes: with LocalOnly every route, probes included, refuses
// a foreign Host or Origin (the Messages routes in the Anthropic shape) and
// serves loopback; without it nothing changes.
func TestLocalOnlyRoutes(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(http.StatusOK, jsonHeader(), `{"data":[]}`), nil
	}}
	local := start(t, up, func(d *gateway.Deps) { d.LocalOnly, d.ListenAddr = true, "gw.lan:8080" })
	open := start(t, up)
	for _, tt := range []struct {
		method, path, host, origin string
		want                       int
		anthropic                  bool
	}{
		{"GET", "/healthz", "evil.example", "", 403, false},
		{"GET", "/healthz", "127.0.0.1.nip.io:8080", "", 403, false},
		{"GET", "/healthz", "localhost:8080", "", 200, false},
		{"GET", "/healthz", "gw.lan:8080", "", 200, false},
		{"GET", "/v1/models", "[::1]:80", "https://evil.example", 403, false},
		{"GET", "/v1/models", "[::1]:80", "http://localhost:3000", 200, false},
		{"GET", "/nothing", "evil.example", "", 403, false},
		{"POST", "/v1/chat/completions", "evil.example", "", 403, false},
		{"POST", "/v1/messages", "evil.example", "", 403, true},
		{"POST", "/v1/messages/count_tokens", "127.0.0.1:1", "null", 403, true},
	} {
		code, body := sendAs(t, local, tt.method, tt.path, tt.host, tt.origin)
		if code != tt.want {
			t.Errorf("%s %s Host %q Origin %q: status %d, want %d (%s)", tt.method, tt.path, tt.host, tt.origin, code, tt.want, body)
		}
		if tt.want == 403 && strings.Contains(body, `"type":"error"`) != tt.anthropic {
			t.Errorf("%s %s: body %s, want the Anthropic shape %v", tt.method, tt.path, body, tt.anthropic)
		}
		if code, _ := sendAs(t, open, http.MethodGet, "/healthz", tt.host, tt.origin); code != 200 {
			t.Errorf("without LocalOnly, Host %q Origin %q: status %d", tt.host, tt.origin, code)
		}
	}
}
