package copilotfake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

const weatherTools = `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}},{"type":"function","name":"lookup","parameters":{"type":"object"}},{"type":"web_search"}]`

func TestResponsesNonStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantTypes []string // output item types
		wantText  string   // of the message item
		wantTool  string   // of the function_call item
		status    string
		outTokens int
		reasoning int
	}{
		{"string input", `{"model":"gpt-5","input":"hi"}`, []string{"message"}, DefaultChatContent, "", "completed", 7, 0},
		{"encrypted reasoning", `{"model":"gpt-5-codex","input":"hi","store":false,"include":["reasoning.encrypted_content"]}`,
			[]string{"reasoning", "message"}, DefaultChatContent, "", "completed", 12, 5},
		{"function call, named", `{"model":"gpt-5-codex",` + weatherTools + `,"input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"be brief"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"please call_tool lookup."}]}]}`,
			[]string{"function_call"}, "", "lookup", "completed", 7, 0},
		{"function call, first tool", `{"model":"gpt-5",` + weatherTools + `,"input":[{"role":"user","content":"call_tool now"}]}`,
			[]string{"function_call"}, "", "get_weather", "completed", 7, 0},
		{"trigger without tools", `{"model":"gpt-5","input":"call_tool now"}`, []string{"message"}, DefaultChatContent, "", "completed", 7, 0},
		{"function_call_output", `{"model":"gpt-5",` + weatherTools + `,"input":[{"role":"user","content":"call_tool"},{"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"sunny"}]}`,
			[]string{"message"}, ToolResultReply("sunny"), "", "completed", 7, 0},
		{"two outputs", `{"model":"gpt-5","input":[{"type":"function_call_output","call_id":"a","output":"x"},{"type":"function_call_output","call_id":"b","output":[{"type":"input_text","text":"y"}]}]}`,
			[]string{"message"}, ToolResultReply("x; y"), "", "completed", 7, 0},
		{"max_output_tokens", `{"model":"gpt-5","input":"hi","max_output_tokens":3}`, []string{"message"}, DefaultChatContent, "", "incomplete", 3, 0},
	}
	s := newFake(t)
	auth := bearer(t, s)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, PathResponses, auth, tc.body)
			if r.status != 200 || r.header.Get("x-quota-snapshot-premium_interactions") == "" {
				t.Fatalf("status %d (quota header %q) body %s", r.status, r.header.Get("x-quota-snapshot-premium_interactions"), r.body)
			}
			m := decode(t, r.body)
			checkResponse(t, m, tc.status, tc.outTokens, tc.reasoning)
			var types []string
			for i := range path(m, "output").([]any) {
				item := path(m, "output", i)
				types = append(types, path(item, "type").(string))
				checkOutputItem(t, item, tc.wantText, tc.wantTool)
			}
			if !slices.Equal(types, tc.wantTypes) {
				t.Errorf("output types %v, want %v", types, tc.wantTypes)
			}
		})
	}
}

// checkResponse checks a final Response object.
func checkResponse(t *testing.T, m any, status string, outTokens, reasoning int) {
	t.Helper()
	if id, _ := path(m, "id").(string); !strings.HasPrefix(id, "resp_") || path(m, "object") != "response" ||
		path(m, "status") != status || path(m, "model") == "" || path(m, "created_at") == nil {
		t.Errorf("response header fields: %v", m)
	}
	if status == "incomplete" && path(m, "incomplete_details", "reason") != "max_output_tokens" {
		t.Errorf("incomplete_details %v", path(m, "incomplete_details"))
	}
	u := path(m, "usage")
	want := map[string]float64{"input_tokens": 11, "output_tokens": float64(outTokens), "total_tokens": float64(11 + outTokens)}
	for k, v := range want {
		if path(u, k) != v {
			t.Errorf("usage.%s = %v, want %v (%v)", k, path(u, k), v, u)
		}
	}
	if path(u, "input_tokens_details", "cached_tokens") != 0.0 || path(u, "output_tokens_details", "reasoning_tokens") != float64(reasoning) {
		t.Errorf("usage details %v", u)
	}
}

// checkOutputItem checks one completed output item.
func checkOutputItem(t *testing.T, item any, text, tool string) {
	t.Helper()
	id, _ := path(item, "id").(string)
	switch path(item, "type") {
	case "reasoning":
		if enc, _ := path(item, "encrypted_content").(string); !strings.HasPrefix(id, "rs_") || !strings.HasPrefix(enc, "enc_fake_") {
			t.Errorf("reasoning item %v", item)
		}
	case "message":
		if !strings.HasPrefix(id, "msg_") || path(item, "role") != "assistant" || path(item, "status") != "completed" ||
			path(item, "content", 0, "type") != "output_text" || path(item, "content", 0, "text") != text {
			t.Errorf("message item %v, want text %q", item, text)
		}
	case "function_call":
		if call, _ := path(item, "call_id").(string); !strings.HasPrefix(id, "fc_") || !strings.HasPrefix(call, "call_") ||
			path(item, "name") != tool || path(item, "arguments") != ToolCallArguments || path(item, "status") != "completed" {
			t.Errorf("function_call item %v, want tool %q", item, tool)
		}
	default:
		t.Errorf("unexpected item %v", item)
	}
}

func TestResponsesRefusals(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	tests := []struct {
		name, body, code string
	}{
		{"include usage", `{"model":"gpt-5","input":"hi","include":["usage"]}`, `"code":"unsupported_value"`},
		{"bad json", `{"model":`, `"code":"invalid_request_body"`},
		{"chat-only model", `{"model":"gpt-4o","input":"hi"}`, `"code":"unsupported_api_for_model"`},
	}
	for _, tc := range tests {
		r := post(t, s, PathResponses, auth, tc.body)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, tc.code) {
			t.Errorf("%s: %d %s, want 400 with %s", tc.name, r.status, r.body, tc.code)
		}
	}
}

// Expected /responses event names.
var (
	respStart     = []string{"response.created", "response.in_progress"}
	respReasoning = []string{"response.output_item.added", "response.output_item.done"}
	respSummary   = []string{"response.output_item.added", "response.reasoning_summary_part.added",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
		"response.reasoning_summary_part.done", "response.output_item.done"}
)

func respText(deltas int) []string {
	return cat([]string{"response.output_item.added", "response.content_part.added"},
		repeat("response.output_text.delta", deltas),
		[]string{"response.output_text.done", "response.content_part.done", "response.output_item.done"})
}

func respCall(deltas int) []string {
	return cat([]string{"response.output_item.added"}, repeat("response.function_call_arguments.delta", deltas),
		[]string{"response.function_call_arguments.done", "response.output_item.done"})
}

func TestResponsesStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks int
		body   string
		want   []string
		text   string // the streamed text or arguments
	}{
		{"default", DefaultChunks, `{"model":"gpt-5","stream":true,"input":"hi"}`,
			cat(respStart, respText(3), []string{"response.completed"}), "chunk 0 chunk 1 chunk 2 "},
		{"no content", 0, `{"model":"gpt-5","stream":true,"input":"hi"}`,
			cat(respStart, respText(0), []string{"response.completed"}), ""},
		{"codex shape", 5, `{"model":"gpt-5-codex","stream":true,"store":false,"include":["reasoning.encrypted_content"],"reasoning":{"summary":"auto"},"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]}`,
			cat(respStart, respSummary, respText(5), []string{"response.completed"}), "chunk 0 chunk 1 chunk 2 chunk 3 chunk 4 "},
		{"encrypted only", 1, `{"model":"gpt-5","stream":true,"include":["reasoning.encrypted_content"],"input":"hi"}`,
			cat(respStart, respReasoning, respText(1), []string{"response.completed"}), "chunk 0 "},
		{"function call", 4, `{"model":"gpt-5-codex","stream":true,` + weatherTools + `,"input":"call_tool get_weather"}`,
			cat(respStart, respCall(4), []string{"response.completed"}), ToolCallArguments},
		{"tool output", 2, `{"model":"gpt-5","stream":true,"input":[{"type":"function_call_output","call_id":"c","output":"42"}]}`,
			cat(respStart, respText(3), []string{"response.completed"}), "chunk 0 chunk 1 " + ToolResultReply("42")},
		{"max_output_tokens", 3, `{"model":"gpt-5","stream":true,"max_output_tokens":2,"input":"hi"}`,
			cat(respStart, respText(3), []string{"response.incomplete"}), "chunk 0 chunk 1 chunk 2 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			s.SetStream(tc.chunks, 0)
			r := post(t, s, PathResponses, bearer(t, s), tc.body)
			if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" || strings.Contains(r.body, "[DONE]") {
				t.Fatalf("status %d type %q body %q", r.status, r.header.Get("Content-Type"), r.body)
			}
			evs := parseSSE(t, r.body)
			if got := names(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("events\n%v\nwant\n%v", got, tc.want)
			}
			checkResponsesStream(t, evs, tc.text)
		})
	}
}

// checkResponsesStream checks numbering, ids and that deltas add up.
func checkResponsesStream(t *testing.T, evs []sse, text string) {
	t.Helper()
	var deltas strings.Builder
	final := path(evs[len(evs)-1].data, "response")
	for i, e := range evs {
		if path(e.data, "sequence_number") != float64(i) {
			t.Errorf("event %d %s: sequence_number %v", i, e.event, path(e.data, "sequence_number"))
		}
		switch e.event {
		case "response.created", "response.in_progress":
			if path(e.data, "response", "status") != "in_progress" || path(e.data, "response", "id") != path(final, "id") {
				t.Errorf("%s: %v", e.event, e.data)
			}
		case "response.output_text.delta", "response.function_call_arguments.delta":
			deltas.WriteString(path(e.data, "delta").(string))
		case "response.output_text.done":
			checkDone(t, e, "text", text)
		case "response.function_call_arguments.done":
			checkDone(t, e, "arguments", text)
		case "response.output_item.done":
			idx := int(path(e.data, "output_index").(float64))
			if got, want := path(e.data, "item", "id"), path(final, "output", idx, "id"); got != want {
				t.Errorf("output_item.done %d id %v, final output has %v", idx, got, want)
			}
		}
	}
	if deltas.String() != text {
		t.Errorf("deltas add up to %q, want %q", deltas.String(), text)
	}
	in, _ := path(final, "usage", "input_tokens").(float64)
	out, _ := path(final, "usage", "output_tokens").(float64)
	if in != DefaultPromptTokens || path(final, "usage", "total_tokens") != in+out {
		t.Errorf("final usage %v", path(final, "usage"))
	}
}

func checkDone(t *testing.T, e sse, field, want string) {
	t.Helper()
	if path(e.data, field) != want || path(e.data, "item_id") == nil {
		t.Errorf("%s: %s = %v, want %q", e.event, field, path(e.data, field), want)
	}
}

func TestResponsesEncryptedRoundTrip(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetVerifyReasoning(true)
	first := decode(t, post(t, s, PathResponses, auth, `{"model":"gpt-5-codex","input":"hi","include":["reasoning.encrypted_content"]}`).body)
	enc, _ := path(first, "output", 0, "encrypted_content").(string)
	if enc == "" {
		t.Fatalf("no encrypted_content: %v", first)
	}
	turn := func(enc string) response {
		return post(t, s, PathResponses, auth, `{"model":"gpt-5-codex","input":[{"role":"user","content":"hi"},`+
			`{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":`+jsonStr(enc)+`},{"role":"user","content":"more"}]}`)
	}
	if r := turn(enc); r.status != 200 {
		t.Errorf("issued encrypted_content refused: %d %s", r.status, r.body)
	}
	if r := turn(enc + "x"); r.status != 400 || !strings.Contains(r.body, `"code":"invalid_encrypted_content"`) || !strings.Contains(r.body, "rs_1") {
		t.Errorf("altered encrypted_content: %d %s", r.status, r.body)
	}
	s.SetVerifyReasoning(false)
	if r := turn("anything"); r.status != 200 {
		t.Errorf("verification off: %d", r.status)
	}
}

func TestResponsesRecorded(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	body := `{"model":"gpt-5-codex","stream":true,"input":[{"role":"user","content":"hi"}],"prompt_cache_key":"k"}`
	post(t, s, PathResponses, bearer(t, s), body, "X-Initiator", "user", "Editor-Version", "vscode/1.104.3")
	got := s.RequestsTo(PathResponses)
	if len(got) != 1 || string(got[0].Body) != body || got[0].Header.Get("X-Initiator") != "user" ||
		got[0].Header.Get("Editor-Version") != "vscode/1.104.3" {
		t.Fatalf("recorded %+v", got)
	}
}
