package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const claudeModels = `{"data":[{"id":"claude-sonnet-4.5","capabilities":{"type":"chat"},"supported_endpoints":["/chat/completions","/v1/messages"]},
	{"id":"gpt-4o","capabilities":{"type":"chat"}}]}`

// messagesUpstream lists Claude models and answers chat; /v1/messages
// answers status.
func messagesUpstream(status int) *recorder {
	return &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		switch call.Path {
		case "/models":
			return response(200, jsonHeader(), claudeModels), nil
		case "/v1/messages":
			return response(status, jsonHeader(), `{"error":{"message":"overloaded"}}`), nil
		case "/chat/completions":
			return response(200, jsonHeader(), `{"id":"c1","object":"chat.completion","created":1,"model":"claude-sonnet-4.5",
				"choices":[{"index":0,"message":{"role":"assistant","content":"translated"},"finish_reason":"stop"}],
				"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}`), nil
		}
		return response(404, nil, "no"), nil
	}}
}

// TestMessagesNativeFallsBackOn5xx: a native Messages call that fails with
// a 5xx before any byte was sent is answered once more through chat, and
// the client sees the translated answer, not the failure.
func TestMessagesNativeFallsBackOn5xx(t *testing.T) {
	t.Parallel()
	up := messagesUpstream(503)
	ts := start(t, up)
	resp, body := post(t, ts, "/v1/messages?beta=true", `{"model":"claude-sonnet-4-5-20250929","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)
	var msg struct {
		Type    string                  `json:"type"`
		Model   string                  `json:"model"`
		Content []struct{ Text string } `json:"content"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &msg) != nil || msg.Type != "message" || len(msg.Content) != 1 || msg.Content[0].Text != "translated" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var paths []string
	for _, c := range up.Calls() {
		paths = append(paths, c.Path)
		if c.Path == "/v1/messages" && !strings.Contains(string(c.Body), `"claude-sonnet-4.5"`) {
			t.Errorf("native body without the mapped model: %s", c.Body)
		}
	}
	if got := strings.Join(paths, " "); got != "/models /v1/messages /chat/completions" {
		t.Fatalf("upstream calls %q", got)
	}
}

// TestMessagesErrorsInAnthropicShape: on the Messages routes every error is
// the Anthropic error object with the matching type, from the handler as
// from the middleware.
func TestMessagesErrorsInAnthropicShape(t *testing.T) {
	t.Parallel()
	ts := start(t, messagesUpstream(200))
	tests := []struct {
		name, body, contentType string
		status                  int
		typ                     string
	}{
		{"bad JSON", `{"model":`, "application/json", 400, "invalid_request_error"},
		{"unknown model", `{"model":"claude-nonexistent-1","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "application/json", 404, "not_found_error"},
		{"wrong content type", `model=x`, "application/x-www-form-urlencoded", 415, "invalid_request_error"},
	}
	for _, tt := range tests {
		resp, body := do(t, ts, http.MethodPost, "/v1/messages", tt.contentType, tt.body)
		var e struct {
			Type  string                         `json:"type"`
			Error struct{ Type, Message string } `json:"error"`
		}
		if resp.StatusCode != tt.status || json.Unmarshal(body, &e) != nil || e.Type != "error" || e.Error.Type != tt.typ || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, body, tt.status, tt.typ)
		}
	}
}

// TestCountTokensIsLocal: count_tokens answers from a local estimate and
// never calls the upstream (Copilot has no such endpoint).
func TestCountTokensIsLocal(t *testing.T) {
	t.Parallel()
	up := messagesUpstream(200)
	ts := start(t, up)
	resp, body := post(t, ts, "/v1/messages/count_tokens", `{"model":"claude-sonnet-4-5","system":"be brief","messages":[{"role":"user","content":"hello there, how are you today?"}]}`)
	var n struct {
		InputTokens int `json:"input_tokens"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &n) != nil || n.InputTokens < 5 || n.InputTokens > 40 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if calls := up.Calls(); len(calls) != 0 {
		t.Fatalf("count_tokens called the upstream: %+v", calls[0].Path)
	}
}
