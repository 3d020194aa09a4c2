package anthropic_test

import (
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

func decodeResponse(t *testing.T, body string) *openai.ChatResponse {
	t.Helper()
	var r openai.ChatResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestFromChatResponse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body, want string
	}{
		{"copilot claude: text and tool call in two choices",
			`{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"content":"I'll list the files.","role":"assistant"}},
			{"finish_reason":"tool_calls","index":1,"message":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"command\":\"ls -la\"}","name":"Bash"},"id":"toolu_vrtx_01Ls","type":"function"}]}}],
			"created":1764931000,"id":"msg_vrtx_01Ab","model":"claude-sonnet-4.5","usage":{"completion_tokens":61,"prompt_tokens":19000,"prompt_tokens_details":{"cached_tokens":18000},"total_tokens":19061}}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"I'll list the files."},{"type":"tool_use","id":"toolu_vrtx_01Ls","name":"Bash","input":{"command":"ls -la"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1000,"cache_creation_input_tokens":0,"cache_read_input_tokens":18000,"output_tokens":61}}`},
		{"openai: plain answer",
			`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi <b>there</b>"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi <b>there</b>"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}`},
		{"truncated arguments, no id, finish length",
			`{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"Write","arguments":"{\"content\":\"abc"}}]},"finish_reason":"length"}]}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"toolu_0_0_msg_1","name":"Write","input":{"_raw":"{\"content\":\"abc"}}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"empty and non-object arguments, finish stop with calls",
			`{"choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":""}},{"id":"b","function":{"name":"g","arguments":"[1,2]"}}]},"finish_reason":"stop"}]}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"a","name":"f","input":{}},{"type":"tool_use","id":"b","name":"g","input":{"_raw":"[1,2]"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
		{"content filter with a refusal, no choices usage only",
			`{"choices":[{"index":0,"message":{"role":"assistant","refusal":"I can't help with that."},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":9}}}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"I can't help with that."}],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":0}}`},
		{"no choices at all",
			`{"choices":[]}`,
			`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`},
	} {
		msg := anthropic.FromChatResponse(decodeResponse(t, tt.body), "claude-sonnet-4-5", "msg_1")
		got, err := anthropic.MarshalMessage(msg)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s:\n got %s %v\nwant %s", tt.name, got, err, tt.want)
		}
	}
	m := anthropic.FromChatResponse(decodeResponse(t, `{"id":"x1","model":"gpt-4o","choices":[]}`), "", "")
	if m.ID != "msg_x1" || m.Model != "gpt-4o" {
		t.Errorf("defaults: %+v", m)
	}
}

func TestEventUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		data string
		want anthropic.Usage
		ok   bool
	}{
		{`{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":300,"cache_read_input_tokens":19000,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}`,
			anthropic.Usage{InputTokens: 12, CacheCreationInputTokens: 300, CacheReadInputTokens: 19000, OutputTokens: 1}, true},
		{`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":517}}`,
			anthropic.Usage{OutputTokens: 517}, true},
		{`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":300,"cache_read_input_tokens":19000,"output_tokens":-4}}`,
			anthropic.Usage{InputTokens: 12, CacheCreationInputTokens: 300, CacheReadInputTokens: 19000}, true},
		{`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"the \"usage\" of message_start"}}`, anthropic.Usage{}, false},
		{`{"type":"ping"}`, anthropic.Usage{}, false},
		{`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":null}`, anthropic.Usage{}, false},
		{`{"type":"message_start","message":{"usage":`, anthropic.Usage{}, false},
	} {
		got, ok := anthropic.EventUsage([]byte(tt.data))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %+v %v; want %+v %v", tt.data, got, ok, tt.want, tt.ok)
		}
	}
	var total anthropic.Usage
	for _, d := range []string{
		`{"type":"message_start","message":{"usage":{"input_tokens":12,"cache_read_input_tokens":19000,"output_tokens":1}}}`,
		`{"type":"message_delta","usage":{"output_tokens":517}}`,
	} {
		u, _ := anthropic.EventUsage([]byte(d))
		total.Merge(u)
	}
	if total != (anthropic.Usage{InputTokens: 12, CacheReadInputTokens: 19000, OutputTokens: 517}) ||
		total.API() != (api.Usage{PromptTokens: 19012, CompletionTokens: 517, TotalTokens: 19529}) {
		t.Errorf("merged %+v api %+v", total, total.API())
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]string{400: "invalid_request_error", 413: "request_too_large", 415: "invalid_request_error",
		422: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
		429: "rate_limit_error", 500: "api_error", 502: "api_error", 504: "api_error", 503: "overloaded_error", 529: "overloaded_error"} {
		if got := anthropic.ErrorType(status); got != want {
			t.Errorf("ErrorType(%d) = %q, want %q", status, got, want)
		}
	}
	if got := string(anthropic.ErrorBody("not_found_error", `model "x" <not> found`)); got != `{"type":"error","error":{"type":"not_found_error","message":"model \"x\" <not> found"}}` {
		t.Errorf("ErrorBody = %s", got)
	}
	if got := string(anthropic.ErrorEvent("", "m").SSE()); got != "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"m\"}}\n\n" {
		t.Errorf("ErrorEvent = %q", got)
	}
}
