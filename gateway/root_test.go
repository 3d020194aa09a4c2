package gateway_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

// TestRoot: GET / says what this is and where the docs are, HEAD / has the
// same headers and no body, and neither needs a key (keys are on here).
func TestRoot(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, noUpstream, func(d *gateway.Deps) { d.Keys = st })

	get, body := do(t, ts, http.MethodGet, "/", "", "")
	if get.StatusCode != http.StatusOK || get.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET / = %d %q %s", get.StatusCode, get.Header.Get("Content-Type"), body)
	}
	var got struct {
		Name, Docs, OpenAPI string
		APIs                []string
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET / body %s: %v", body, err)
	}
	if got.Name != "copilot-proxy" || got.Docs != "/docs" || got.OpenAPI != "/openapi.json" ||
		!slices.Equal(got.APIs, []string{"/v1/chat/completions", "/v1/responses", "/v1/messages"}) {
		t.Errorf("GET / body = %s", body)
	}

	head, hbody := do(t, ts, http.MethodHead, "/", "", "")
	if head.StatusCode != http.StatusOK || len(hbody) != 0 {
		t.Fatalf("HEAD / = %d with %d body bytes, want 200 and none", head.StatusCode, len(hbody))
	}
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if head.Header.Get(h) != get.Header.Get(h) {
			t.Errorf("HEAD / %s = %q, GET / has %q", h, head.Header.Get(h), get.Header.Get(h))
		}
	}
}
