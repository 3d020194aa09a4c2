package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestChatFallsBackToResponses: a model the gateway cannot place (no model
// list) goes to /chat/completions; when Copilot answers
// unsupported_api_for_model, the request is sent once more, translated, to
// /responses, the answer comes back in the chat shape, and later requests
// for that model go to /responses directly.
func TestChatFallsBackToResponses(t *testing.T) {
	t.Parallel()
	up := &recorder{fn: func(ctx context.Context, call *upCall) (*http.Response, error) {
		switch call.Path {
		case "/chat/completions":
			return response(400, jsonHeader(), `{"error":{"message":"model gpt-9-codex is not accessible via the /chat/completions endpoint","code":"unsupported_api_for_model","type":"invalid_request_error"}}`), nil
		case "/responses":
			return response(200, jsonHeader(), `{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-9-codex",
				"output":[{"type":"message","id":"m1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"from responses","annotations":[]}]}],
				"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}}`), nil
		}
		return response(404, nil, "no"), nil
	}}
	ts := start(t, up)
	for i := range 2 {
		resp, body := post(t, ts, "/v1/chat/completions", `{"model":"gpt-9-codex","messages":[{"role":"user","content":"hi"}]}`)
		var got struct {
			Object  string `json:"object"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Usage struct{ PromptTokens, CompletionTokens int } `json:"usage"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || len(got.Choices) != 1 || got.Choices[0].Message.Content != "from responses" || got.Object != "chat.completion" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	var paths []string
	for _, c := range up.Calls() {
		paths = append(paths, c.Path)
	}
	if want := "/chat/completions /responses /responses"; strings.Join(paths, " ") != want {
		t.Fatalf("upstream calls %v, want %s", paths, want)
	}
}
