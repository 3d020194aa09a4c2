package gateway_test

import (
	"strings"
	"testing"
)

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	ts := start(t, noUpstream)
	tests := []struct {
		method, path string
		status       int
		code         string
		msg          string
		allow        string
	}{
		{"GET", "/v1/nothing?key=sk-secret", 404, "not_found", "Unknown route: GET /v1/nothing", ""},
		{"POST", "/v2/chat/completions", 404, "not_found", "Unknown route: POST /v2/chat/completions", ""},
		{"GET", "/v1/chat/completions", 405, "method_not_allowed", "", "POST"},
		{"DELETE", "/v1/models", 405, "method_not_allowed", "", "GET"},
		{"POST", "/healthz", 405, "method_not_allowed", "", "GET"},
		{"PUT", "/v1/models/gpt-4o", 405, "method_not_allowed", "", "GET"},
	}
	for _, tt := range tests {
		resp, body := do(t, ts, tt.method, tt.path, "", "")
		e := wantEnvelope(t, resp, body, tt.status, tt.code)
		if tt.msg != "" && e.Error.Message != tt.msg {
			t.Errorf("%s %s: message %q, want %q", tt.method, tt.path, e.Error.Message, tt.msg)
		}
		if strings.Contains(e.Error.Message, "secret") {
			t.Errorf("query string echoed: %q", e.Error.Message)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}
