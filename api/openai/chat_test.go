package openai_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// roundTrip decodes in into a T, encodes it again and compares the two
// JSON texts as values.
func roundTrip[T any](t *testing.T, in string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatalf("decode %s: %v", in, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !jsonEqual(t, []byte(in), out) {
		t.Fatalf("round trip changed the body:\n in: %s\nout: %s", in, out)
	}
	return v
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return reflect.DeepEqual(x, y)
}

func TestMessageContentForms(t *testing.T) {
	tests := []struct {
		name, in  string
		wantText  string
		wantParts int
		isString  bool
	}{
		{"string", `{"role":"user","content":"hello"}`, "hello", 0, true},
		{"empty string", `{"role":"user","content":""}`, "", 0, true},
		{"parts", `{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}},{"type":"text","text":"b"}]}`, "ab", 3, false},
		{"empty parts", `{"role":"user","content":[]}`, "", 0, false},
		{"other part kept raw", `{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}`, "", 1, false},
		{"null content with tool calls", `{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}`, "", 0, false},
		{"copilot reasoning", `{"role":"assistant","content":"x","reasoning_text":"think","reasoning_opaque":"b3BhcXVl"}`, "x", 0, true},
		{"tool message", `{"role":"tool","content":"out","tool_call_id":"call_1"}`, "out", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := roundTrip[openai.Message](t, tt.in)
			if got := m.Content.PlainText(); got != tt.wantText {
				t.Errorf("PlainText = %q, want %q", got, tt.wantText)
			}
			if len(m.Content.Parts) != tt.wantParts || (m.Content.Text != nil) != tt.isString {
				t.Errorf("form: text %v parts %d", m.Content.Text != nil, len(m.Content.Parts))
			}
		})
	}
}

func TestContentRejectsOtherShapes(t *testing.T) {
	for _, in := range []string{`{"role":"user","content":1}`, `{"role":"user","content":{"text":"x"}}`, `{"role":"user","content":true}`} {
		var m openai.Message
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

func TestImageURLAcceptsBareString(t *testing.T) {
	var p openai.ContentPart
	if err := json.Unmarshal([]byte(`{"type":"image_url","image_url":"https://example.com/a.png"}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.ImageURL == nil || p.ImageURL.URL != "https://example.com/a.png" {
		t.Fatalf("image = %+v", p.ImageURL)
	}
}

func TestChatRequestRoundTripKeepsUnknownFields(t *testing.T) {
	in := `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],
		"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{}},"strict":true}},{"type":"custom","custom":{"name":"x"}}],
		"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false,"max_tokens":100,
		"max_completion_tokens":200,"temperature":0,"top_p":1,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},
		"reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":true}},
		"user":"u","n":1,"seed":42,"metadata":{"k":"v"},"logit_bias":{"50256":-100}}`
	r := roundTrip[openai.ChatRequest](t, in)
	if r.ToolChoice.Function != "get_weather" || *r.Temperature != 0 || len(r.Extra) != 3 {
		t.Fatalf("decoded %+v", r)
	}
	if r.Tools[1].Raw == nil || r.Tools[1].Function != nil {
		t.Fatalf("custom tool not kept raw: %+v", r.Tools[1])
	}
}

func TestChatRequestExactKeys(t *testing.T) {
	var r openai.ChatRequest
	if err := json.Unmarshal([]byte(`{"model":"a","MODEL":"b","messages":[]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Model != "a" || string(r.Extra["MODEL"]) != `"b"` {
		t.Fatalf("model %q extra %v: a case variant must not fill the field", r.Model, r.Extra)
	}
	err := json.Unmarshal([]byte(`{"model":"a","model":"b","messages":[]}`), &r)
	var fe *openai.FieldError
	if !errors.As(err, &fe) || !fe.Repeated || fe.Field != "model" {
		t.Fatalf("repeated model: err %v", err)
	}
	err = json.Unmarshal([]byte(`{"model":1,"messages":[]}`), &r)
	if !errors.As(err, &fe) || fe.Repeated || fe.Field != "model" || fe.Unwrap() == nil {
		t.Fatalf("wrong type: err %v", err)
	}
}

func TestToolChoiceAndStopForms(t *testing.T) {
	for _, in := range []string{`"auto"`, `"none"`, `"required"`, `{"type":"function","function":{"name":"f"}}`,
		`{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}`} {
		roundTrip[openai.ToolChoice](t, in)
	}
	var s openai.Stop
	if err := json.Unmarshal([]byte(`"END"`), &s); err != nil || len(s) != 1 || s[0] != "END" {
		t.Fatalf("stop string: %v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`["a","b"]`), &s); err != nil || len(s) != 2 {
		t.Fatalf("stop list: %v %v", s, err)
	}
}

// Copilot's stream chunks, as recorded: an empty first chunk with prompt
// filter results, null usage, content null, extra fields everywhere.
func TestChunkDecodingIsTolerant(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantChoices int
		wantUsage   bool
	}{
		{"prompt filter results only", `{"choices":[],"created":0,"id":"","prompt_filter_results":[{"content_filter_results":{},"prompt_index":0}]}`, 0, false},
		{"no choices key", `{"id":"x","copilot_references":[]}`, 0, false},
		{"null usage and content", `{"choices":[{"index":0,"delta":{"content":null,"role":"assistant"},"finish_reason":null,"content_filter_offsets":{"check_offset":1}}],"usage":null}`, 1, false},
		{"null delta", `{"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}`, 1, false},
		{"late usage", `{"choices":[],"usage":{"completion_tokens":5,"prompt_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2,"accepted_prediction_tokens":0}}}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c openai.ChatChunk
			if err := json.Unmarshal([]byte(tt.in), &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Choices) != tt.wantChoices || (c.Usage != nil) != tt.wantUsage {
				t.Fatalf("choices %d usage %v", len(c.Choices), c.Usage)
			}
		})
	}
}

func TestUsageHelpers(t *testing.T) {
	var nilUsage *openai.Usage
	if nilUsage.Cached() != 0 || nilUsage.Reasoning() != 0 || nilUsage.API().TotalTokens != 0 {
		t.Fatal("nil usage")
	}
	u := &openai.Usage{PromptTokens: -5, CompletionTokens: 3, TotalTokens: 8,
		PromptTokensDetails: &openai.PromptTokensDetails{CachedTokens: 2}, CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: 1}}
	if a := u.API(); a.PromptTokens != 0 || a.CompletionTokens != 3 || u.Cached() != 2 || u.Reasoning() != 1 {
		t.Fatalf("usage %+v", a)
	}
}

func TestChunkEncodingHasNullFinishReason(t *testing.T) {
	b, _ := json.Marshal(openai.ChatChunk{ID: "x", Object: "chat.completion.chunk", Choices: []openai.ChunkChoice{{Delta: openai.Delta{Content: "hi"}}}})
	if !bytes.Contains(b, []byte(`"finish_reason":null`)) || bytes.Contains(b, []byte(`"usage"`)) {
		t.Fatalf("chunk %s", b)
	}
}

func TestAppendMembers(t *testing.T) {
	known := map[string]any{"model": nil}
	got, err := openai.AppendMembers([]byte(`{"model":"m"}`), map[string]json.RawMessage{"z": []byte(`1`), "a": []byte(`{"b":2}`), "model": []byte(`"other"`)}, known)
	if err != nil || string(got) != `{"model":"m","a":{"b":2},"z":1}` {
		t.Fatalf("got %s %v", got, err)
	}
	got, err = openai.AppendMembers([]byte(`{}`), map[string]json.RawMessage{"a": []byte(`1`)}, nil)
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("empty object: %s %v", got, err)
	}
	if _, err := openai.AppendMembers([]byte(`{"a":1}`), map[string]json.RawMessage{"b": []byte(`nope`)}, nil); err == nil {
		t.Fatal("invalid raw member accepted")
	}
}

func TestDecodeObject(t *testing.T) {
	var a string
	var extra map[string]json.RawMessage
	if err := openai.DecodeObject([]byte(`null`), map[string]any{"a": &a}, &extra); err != nil || a != "" {
		t.Fatalf("null: %v", err)
	}
	for _, in := range []string{`[]`, `"x"`, `{"a":`, ``} {
		if err := openai.DecodeObject([]byte(in), map[string]any{"a": &a}, nil); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if err := openai.DecodeObject([]byte(`{"\u0061":"escaped","b":[1]}`), map[string]any{"a": &a}, nil); err != nil || a != "escaped" {
		t.Fatalf("escaped key: %q %v", a, err)
	}
	// A syntax error after a member error wins: callers passing raw bytes
	// rely on it instead of validating first.
	var fe *openai.FieldError
	for _, in := range []string{`{"a":1,`, `{"a":"x","a":"y"`, `{"a":1} x`} {
		if err := openai.DecodeObject([]byte(in), map[string]any{"a": &a}, nil); err == nil || errors.As(err, &fe) {
			t.Errorf("%q: %v, want the syntax error", in, err)
		}
	}
}

// TestChatRequestMarshalJSONIsFinal: MarshalJSON writes the bytes
// json.Marshal writes (extras compacted and HTML-escaped), so the gateway
// may call it directly and skip json.Marshal's compaction pass.
func TestChatRequestMarshalJSONIsFinal(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"model":"m","messages":[{"role":"user","content":"<b>&</b>"}]}`,
		`{"model":"m","messages":[],"x_extra": { "a" : [1, 2,  {"b": "<tag> & \u2028"}] },"metadata":{"k":"v"},"zz":null}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{ "type" : "object" }}}],"reasoning_effort":"high"}`,
	} {
		var r openai.ChatRequest
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Fatal(err)
		}
		direct, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		viaJSON, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(direct) != string(viaJSON) {
			t.Errorf("MarshalJSON:\n%s\njson.Marshal:\n%s", direct, viaJSON)
		}
	}
}
