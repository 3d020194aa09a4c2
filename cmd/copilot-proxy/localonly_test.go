package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// rawPost sends body as a browser or a rebinding page would: with the
// content type, Host and Origin given ("" leaves the header out; host ""
// keeps the URL's).
func (g *testGateway) rawPost(t *testing.T, path, contentType, host, origin, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNoAuthRefusesWebPages: with --no-auth (startGateway's default) a web
// page can neither spend the quota with a cross-site simple POST nor read
// answers through DNS rebinding, while an SDK on the machine is served.
func TestNoAuthRefusesWebPages(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	chat := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	for _, tt := range []struct {
		name, path, contentType, host, origin string
		want                                  int
		says                                  string
	}{
		{"simple POST, no content type", "/v1/chat/completions", "", "", "https://evil.example", 403, "not a loopback origin"},
		{"simple POST, text/plain", "/v1/chat/completions", "text/plain", "", "https://evil.example", 403, "not a loopback origin"},
		{"no content type, no origin", "/v1/chat/completions", "", "", "", 415, "Content-Type: application/json"},
		{"form POST from an opaque origin", "/v1/messages", "application/x-www-form-urlencoded", "", "null", 403, "not a loopback origin"},
		{"rebinding Host", "/v1/chat/completions", "application/json", "attacker.example:8080", "", 403, "is not this machine"},
		{"rebinding to a loopback name", "/v1/responses", "application/json", "127.0.0.1.nip.io", "", 403, "is not this machine"},
	} {
		code, body := g.rawPost(t, tt.path, tt.contentType, tt.host, tt.origin, chat)
		if code != tt.want || !strings.Contains(body, tt.says) {
			t.Errorf("%s: status %d (%s), want %d saying %q", tt.name, code, body, tt.want, tt.says)
		}
	}
	for _, p := range []string{copilottest.PathChat, copilottest.PathMessages, copilottest.PathResponses} {
		if n := len(fake.RequestsTo(p)); n != 0 {
			t.Errorf("%d requests reached Copilot's %s from refused callers", n, p)
		}
	}
	// A rebinding page cannot read the quota either.
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/usage/quota", nil)
	req.Host = "attacker.example"
	if resp, err := g.client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("quota through a rebinding Host: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}
	// The SDK (loopback Host, no Origin, JSON) is served, as is a page
	// served from loopback itself.
	if _, err := g.openai().CreateChatCompletion(context.Background(), chatReq("hello")); err != nil {
		t.Fatalf("SDK request: %v", err)
	}
	if code, body := g.rawPost(t, "/v1/chat/completions", "application/json", "localhost", "http://localhost:3000", chat); code != 200 {
		t.Errorf("loopback page: status %d (%s)", code, body)
	}
}
