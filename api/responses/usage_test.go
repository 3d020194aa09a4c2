package responses_test

import (
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

func TestEventUsage(t *testing.T) {
	usage := `"usage":{"input_tokens":320,"input_tokens_details":{"cached_tokens":256},"output_tokens":148,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":468}`
	tests := []struct {
		name, data string
		ok         bool
	}{
		{"completed", `{"type":"response.completed","sequence_number":9,"response":{"id":"r","output":[{"type":"message"}],` + usage + `}}`, true},
		{"incomplete", `{"type":"response.incomplete","response":{` + usage + `}}`, true},
		{"failed with usage", `{"type":"response.failed","response":{"error":{"code":"x"},` + usage + `}}`, true},
		{"completed without usage", `{"type":"response.completed","response":{"usage":null}}`, false},
		{"delta naming the type", `{"type":"response.output_text.delta","delta":"response.completed","response":{` + usage + `}}`, false},
		{"created", `{"type":"response.created","response":{"usage":null}}`, false},
		{"not json", `response.completed {`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := responses.EventUsage([]byte(tt.data))
			if ok != tt.ok {
				t.Fatalf("ok %v", ok)
			}
			if ok && (u.InputTokens != 320 || u.Cached() != 256 || u.OutputTokensDetails.ReasoningTokens != 64 ||
				u.API() != (api.Usage{PromptTokens: 320, CompletionTokens: 148, TotalTokens: 468, CachedTokens: 256})) {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

// Every event StreamFromChat ends with carries usage the gateway can read
// the same way as a passthrough event.
func TestEventUsageOfTranslatedStream(t *testing.T) {
	events := runChatStream(t, loadRequest(t, "codex_request.json"), "chat_split_tools.sse")
	n := 0
	for _, ev := range events {
		if u, ok := responses.EventUsage(ev.Data); ok {
			n++
			if ev.Type != responses.EventCompleted || u.InputTokens != 9140 || u.Cached() != 8704 || u.TotalTokens != 9225 {
				t.Fatalf("%s: %+v", ev.Type, u)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d events with usage", n)
	}
}

func TestBodyAndTailUsage(t *testing.T) {
	body := readFile(t, "responses_body.json")
	u, ok := responses.BodyUsage(body)
	if !ok || u.TotalTokens != 468 {
		t.Fatalf("body: %+v %v", u, ok)
	}
	for _, n := range []int{len(body), 400, 280} {
		u, ok := responses.TailUsage(body[len(body)-n:])
		if !ok || u.InputTokens != 320 || u.Cached() != 256 {
			t.Fatalf("tail %d: %+v %v", n, u, ok)
		}
	}
	if _, ok := responses.TailUsage(body[len(body)-100:]); ok {
		t.Fatal("a cut usage object was read")
	}
	chat := `{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`
	if _, ok := responses.TailUsage([]byte(chat)); ok {
		t.Fatal("chat usage taken for Responses usage")
	}
	if _, ok := responses.BodyUsage([]byte(`{"id":"x"}`)); ok {
		t.Fatal("usage without usage")
	}
	if _, ok := responses.BodyUsage([]byte(`{"usage":`)); ok {
		t.Fatal("usage from broken JSON")
	}
	nested := `{"output":[{"type":"function_call_output","output":"\"usage\":{\"input_tokens\":999}"}],"usage":{"input_tokens":5,"output_tokens":1,"total_tokens":6}}`
	if u, ok := responses.TailUsage([]byte(nested)); !ok || u.InputTokens != 5 {
		t.Fatalf("escaped usage in text was read: %+v", u)
	}
}

func TestUsageOf(t *testing.T) {
	if in, out, cached := responses.UsageOf(nil); in != 0 || out != 0 || cached != 0 {
		t.Fatal("nil response")
	}
	r := &responses.Response{Usage: &responses.Usage{InputTokens: -1, OutputTokens: 4,
		InputTokensDetails: responses.InputTokensDetails{CachedTokens: -2}}}
	if in, out, cached := responses.UsageOf(r); in != 0 || out != 4 || cached != 0 {
		t.Fatalf("negative counts: %d %d %d", in, out, cached)
	}
	if !strings.Contains(mustJSON(t, r.Usage), `"input_tokens_details":{"cached_tokens":-2}`) {
		t.Fatal("details not always present")
	}
}
