package copilotfake

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const anthTools = `"tools":[{"name":"get_weather","description":"w","input_schema":{"type":"object"}},{"name":"Bash","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}]`

func TestMessagesNonStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		blocks []string // content block types
		text   string
		tool   string
		stop   string
		out    float64
	}{
		{"string content", `{"model":"claude-sonnet-4.5","max_tokens":1024,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"text"}, DefaultChatContent, "", "end_turn", 7},
		{"tool_use", `{"model":"claude-opus-4.6","max_tokens":1024,` + anthTools + `,"messages":[{"role":"user","content":[{"type":"text","text":"call_tool Bash"}]}]}`,
			[]string{"tool_use"}, "", "Bash", "tool_use", 7},
		{"tool_use before a system message", `{"model":"claude-opus-4.6","max_tokens":1024,` + anthTools + `,"messages":[{"role":"user","content":[{"type":"text","text":"call_tool Bash"}]},{"role":"system","content":[{"type":"text","text":"# Environment"}]}]}`,
			[]string{"tool_use"}, "", "Bash", "tool_use", 7},
		{"thinking", `{"model":"claude-opus-4.6","max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"thinking", "text"}, DefaultChatContent, "", "end_turn", 12},
		{"tool_result", `{"model":"claude-haiku-4.5","max_tokens":1024,` + anthTools + `,"messages":[{"role":"user","content":"call_tool"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"},{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"fine"}]}]}]}`,
			[]string{"text"}, ToolResultReply("ok; fine"), "", "end_turn", 7},
		{"max_tokens", `{"model":"claude-sonnet-4","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"text"}, DefaultChatContent, "", "max_tokens", 4},
		{"server tool only", `{"model":"claude-sonnet-4.5","tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"call_tool"}]}`,
			[]string{"text"}, DefaultChatContent, "", "end_turn", 7},
	}
	s := newFake(t)
	auth := bearer(t, s)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, PathMessages, auth, tc.body, "anthropic-version", "2023-06-01")
			if r.status != 200 || r.header.Get("x-quota-snapshot-premium_interactions") == "" {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			m := decode(t, r.body)
			if id, _ := m["id"].(string); !strings.HasPrefix(id, "msg_") || m["type"] != "message" || m["role"] != "assistant" ||
				m["model"] == "" || m["stop_reason"] != tc.stop {
				t.Errorf("message %v, want stop_reason %q", m, tc.stop)
			}
			if u := m["usage"]; path(u, "input_tokens") != 11.0 || path(u, "output_tokens") != tc.out ||
				path(u, "cache_read_input_tokens") != 0.0 || path(u, "cache_creation_input_tokens") != 0.0 {
				t.Errorf("usage %v, want output_tokens %v", u, tc.out)
			}
			var types []string
			for i := range m["content"].([]any) {
				b := path(m, "content", i)
				types = append(types, path(b, "type").(string))
				checkBlock(t, b, tc.text, tc.tool)
			}
			if !slices.Equal(types, tc.blocks) {
				t.Errorf("blocks %v, want %v", types, tc.blocks)
			}
		})
	}
}

func checkBlock(t *testing.T, b any, text, tool string) {
	t.Helper()
	switch path(b, "type") {
	case "text":
		if path(b, "text") != text {
			t.Errorf("text block %v, want %q", b, text)
		}
	case "thinking":
		if sig, _ := path(b, "signature").(string); path(b, "thinking") != DefaultThinking || !strings.HasPrefix(sig, "sig_fake_") {
			t.Errorf("thinking block %v", b)
		}
	case "tool_use":
		if id, _ := path(b, "id").(string); !strings.HasPrefix(id, "toolu_") || path(b, "name") != tool ||
			path(b, "input", "city") != "Paris" {
			t.Errorf("tool_use block %v, want %s", b, tool)
		}
	default:
		t.Errorf("unexpected block %v", b)
	}
}

// msgBlock is the events of one content block with n deltas; first blocks
// are followed by a ping.
func msgBlock(n int, first bool) []string {
	out := []string{"content_block_start"}
	if first {
		out = append(out, "ping")
	}
	return cat(out, repeat("content_block_delta", n), []string{"content_block_stop"})
}

var msgEnd = []string{"message_delta", "message_stop"}

func TestMessagesStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks int
		body   string
		want   []string
		deltas map[string]string // per delta type, the concatenation
		stop   string
	}{
		{"text", DefaultChunks, `{"model":"claude-sonnet-4.5","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			cat([]string{"message_start"}, msgBlock(3, true), msgEnd), map[string]string{"text_delta": "chunk 0 chunk 1 chunk 2 "}, "end_turn"},
		{"empty", 0, `{"model":"claude-sonnet-4.5","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			cat([]string{"message_start"}, msgBlock(0, true), msgEnd), map[string]string{}, "end_turn"},
		{"thinking", 2, `{"model":"claude-opus-4.6","stream":true,"max_tokens":32000,"thinking":{"type":"adaptive"},"messages":[{"role":"user","content":"hi"}]}`,
			cat([]string{"message_start"}, msgBlock(3, true), msgBlock(2, false), msgEnd),
			map[string]string{"thinking_delta": DefaultThinking, "text_delta": "chunk 0 chunk 1 "}, "end_turn"},
		{"tool_use", 4, `{"model":"claude-sonnet-4.5","stream":true,"max_tokens":100,` + anthTools + `,"messages":[{"role":"user","content":"call_tool get_weather"}]}`,
			cat([]string{"message_start"}, msgBlock(4, true), msgEnd), map[string]string{"input_json_delta": ToolCallArguments}, "tool_use"},
		{"tool_result", 1, `{"model":"claude-haiku-4.5","stream":true,"max_tokens":100,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"done"}]}]}`,
			cat([]string{"message_start"}, msgBlock(2, true), msgEnd), map[string]string{"text_delta": "chunk 0 " + ToolResultReply("done")}, "end_turn"},
		{"max_tokens", 3, `{"model":"claude-sonnet-4.5","stream":true,"max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`,
			cat([]string{"message_start"}, msgBlock(3, true), msgEnd), map[string]string{"text_delta": "chunk 0 chunk 1 chunk 2 "}, "max_tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			s.SetStream(tc.chunks, 0)
			r := post(t, s, PathMessages+"?beta=true", bearer(t, s), tc.body)
			if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d body %q", r.status, r.body)
			}
			evs := parseSSE(t, r.body)
			if got := names(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("events\n%v\nwant\n%v", got, tc.want)
			}
			if got := messagesDeltas(t, evs); !maps.Equal(got, tc.deltas) {
				t.Errorf("deltas %q, want %q", got, tc.deltas)
			}
			start, end := evs[0].data, evs[len(evs)-2].data
			if path(start, "message", "usage", "input_tokens") != 11.0 || len(path(start, "message", "content").([]any)) != 0 ||
				path(start, "message", "stop_reason") != nil {
				t.Errorf("message_start %v", start)
			}
			if path(end, "delta", "stop_reason") != tc.stop || path(end, "usage", "output_tokens") == nil {
				t.Errorf("message_delta %v, want stop_reason %s", end, tc.stop)
			}
		})
	}
}

// messagesDeltas checks block indices and returns the deltas' text by type
// (a signature_delta must close a thinking block).
func messagesDeltas(t *testing.T, evs []sse) map[string]string {
	t.Helper()
	out := map[string]string{}
	idx, blockType := -1, ""
	for _, e := range evs {
		i, _ := path(e.data, "index").(float64)
		switch e.event {
		case "content_block_start":
			idx++
			blockType, _ = path(e.data, "content_block", "type").(string)
			fallthrough
		case "content_block_delta", "content_block_stop":
			if int(i) != idx {
				t.Errorf("%s index %v, want %d", e.event, i, idx)
			}
		}
		if e.event != "content_block_delta" {
			continue
		}
		d := path(e.data, "delta").(map[string]any)
		typ := d["type"].(string)
		switch typ {
		case "text_delta":
			out[typ] += d["text"].(string)
		case "thinking_delta":
			out[typ] += d["thinking"].(string)
		case "input_json_delta":
			out[typ] += d["partial_json"].(string)
		case "signature_delta":
			if sig, _ := d["signature"].(string); blockType != "thinking" || !strings.HasPrefix(sig, "sig_fake_") {
				t.Errorf("signature_delta %v in a %s block", d, blockType)
			}
		}
	}
	return out
}

func TestMessagesHeadersRecorded(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	body := `{"model":"claude-sonnet-4.5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	beta := "claude-code-20250219,interleaved-thinking-2025-05-14"
	post(t, s, PathMessages+"?beta=true", bearer(t, s), body, "anthropic-version", "2023-06-01", "anthropic-beta", beta, "X-Initiator", "agent")
	got := s.RequestsTo(PathMessages)
	if len(got) != 1 || string(got[0].Body) != body {
		t.Fatalf("recorded %+v", got)
	}
	h := got[0].Header
	if h.Get("anthropic-version") != "2023-06-01" || h.Get("anthropic-beta") != beta || h.Get("X-Initiator") != "agent" {
		t.Errorf("headers %v", h)
	}
}

func TestMessagesFaultForFallback(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetMessagesFault(Fault{Status: http.StatusServiceUnavailable, Count: 2})
	body := `{"model":"claude-sonnet-4.5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	for i := range 2 {
		if r := post(t, s, PathMessages, auth, body); r.status != 503 || !strings.Contains(r.body, `"type":"server_error"`) {
			t.Errorf("call %d: %d %s", i, r.status, r.body)
		}
		chat := `{"model":"claude-sonnet-4.5","messages":[{"role":"user","content":"hi"}]}`
		if r := post(t, s, PathChat, auth, chat); r.status != 200 {
			t.Errorf("translated chat call %d: %d", i, r.status)
		}
	}
	if r := post(t, s, PathMessages, auth, body); r.status != 200 {
		t.Errorf("after the fault: %d", r.status)
	}
	s.SetMessagesFault(Fault{Status: 529, Body: AnthropicErrorBody(529)})
	r := post(t, s, PathMessages, auth, body)
	if r.status != 529 || r.body != `{"error":{"message":"Overloaded","type":"overloaded_error"},"type":"error"}` {
		t.Errorf("anthropic-shaped fault: %d %s", r.status, r.body)
	}
	s.ClearMessagesFault()
	if r := post(t, s, PathMessages, auth, body); r.status != 200 {
		t.Errorf("after clear: %d", r.status)
	}
}

func TestMessagesSignatureVerification(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetVerifyReasoning(true)
	first := decode(t, post(t, s, PathMessages, auth, `{"model":"claude-opus-4.6","max_tokens":100,"thinking":{"type":"enabled","budget_tokens":10},"messages":[{"role":"user","content":"hi"}]}`).body)
	sig, _ := path(first, "content", 0, "signature").(string)
	next := func(sig string) response {
		return post(t, s, PathMessages, auth, `{"model":"claude-opus-4.6","max_tokens":100,"messages":[{"role":"user","content":"hi"},`+
			`{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":`+jsonStr(sig)+`},{"type":"text","text":"x"}]},{"role":"user","content":"more"}]}`)
	}
	if r := next(sig); r.status != 200 {
		t.Errorf("issued signature refused: %d %s", r.status, r.body)
	}
	r := next("forged")
	if r.status != 400 || !strings.Contains(r.body, `"type":"invalid_request_error"`) || !strings.Contains(r.body, "messages.1.content.0") {
		t.Errorf("forged signature: %d %s", r.status, r.body)
	}
}
