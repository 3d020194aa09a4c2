package responses_test

import (
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

func TestParseRequestCodexBody(t *testing.T) {
	req := loadRequest(t, "codex_request.json")
	switch {
	case req.Model != "claude-sonnet-4.5" || !req.Stream || req.Store == nil || *req.Store:
		t.Fatalf("model/stream/store: %+v", req)
	case len(req.Input.Items) != 4 || req.Input.Items[0].Role != "developer":
		t.Fatalf("input %+v", req.Input)
	case len(req.Tools) != 12 || req.Tools[10].Type != "namespace" || len(req.Tools[10].Tools) != 2:
		t.Fatalf("tools %+v", req.Tools)
	case req.Tools[11].Type != "web_search" || req.Tools[11].Raw == nil:
		t.Fatalf("web_search not kept raw: %+v", req.Tools[11])
	case req.ToolChoice == nil || req.ToolChoice.Mode != "auto" || req.ParallelToolCalls == nil || !*req.ParallelToolCalls:
		t.Fatalf("tool_choice/parallel: %+v %v", req.ToolChoice, req.ParallelToolCalls)
	case req.Reasoning == nil || req.Reasoning.Summary != "auto" || !req.Includes("reasoning.encrypted_content"):
		t.Fatalf("reasoning/include: %+v %v", req.Reasoning, req.Include)
	case req.PromptCacheKey == "" || req.Extra["client_metadata"] == nil:
		t.Fatalf("prompt_cache_key/extra: %q %v", req.PromptCacheKey, req.Extra)
	}
	// Codex's body marshals back to the same JSON value.
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(readFile(t, "codex_request.json"), &a)
	_ = json.Unmarshal(out, &b)
	if mustJSON(t, a) != mustJSON(t, b) {
		t.Errorf("codex_request.json does not round-trip:\n%s", out)
	}
}

// Other bodies are normalised once (the easy message form gets its type,
// output_text its annotations, an old-style failed tool output its text)
// and are stable from then on.
func TestRequestEncodingIsStable(t *testing.T) {
	for _, name := range []string{"codex_function_roundtrip.json", "image_request.json"} {
		first, err := json.Marshal(loadRequest(t, name))
		if err != nil {
			t.Fatal(err)
		}
		again, e := responses.ParseRequest(first)
		if e != nil {
			t.Fatal(e)
		}
		if second := mustJSON(t, again); second != string(first) {
			t.Errorf("%s:\n first %s\nsecond %s", name, first, second)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct {
		name, body string
		code       api.Code
		param      string
	}{
		{"empty", "  ", api.CodeInvalidJSON, ""},
		{"invalid json", `{"model":`, api.CodeInvalidJSON, ""},
		{"invalid json after a bad member", `{"model":4,"input":"hi"`, api.CodeInvalidJSON, ""},
		{"invalid json after a repeat", `{"model":"a","model":"b",}`, api.CodeInvalidJSON, ""},
		{"invalid json, not an object", `["model"`, api.CodeInvalidJSON, ""},
		{"not an object", `["model"]`, api.CodeInvalidRequest, ""},
		{"missing model", `{"input":"hi"}`, api.CodeMissingField, "model"},
		{"null model", `{"model":null,"input":"hi"}`, api.CodeMissingField, "model"},
		{"model not a string", `{"model":4,"input":"hi"}`, api.CodeInvalidRequest, "model"},
		{"model case variant", `{"model":"gpt-4.1","Model":"o3","input":"hi"}`, api.CodeInvalidRequest, "model"},
		{"model twice", `{"model":"gpt-4.1","input":"hi","model":"o3"}`, api.CodeInvalidRequest, "model"},
		{"missing input", `{"model":"m"}`, api.CodeMissingField, "input"},
		{"input number", `{"model":"m","input":3}`, api.CodeInvalidRequest, "input"},
		{"input object", `{"model":"m","input":{"role":"user"}}`, api.CodeInvalidRequest, "input"},
		{"input null", `{"model":"m","input":null}`, api.CodeInvalidRequest, "input"},
		{"item not an object", `{"model":"m","input":["hi"]}`, api.CodeInvalidRequest, "input"},
		{"stream not a bool", `{"model":"m","input":"x","stream":"yes"}`, api.CodeInvalidRequest, "stream"},
		{"stream case variant", `{"model":"m","input":"x","STREAM":true}`, api.CodeInvalidRequest, "stream"},
		{"tools not a list", `{"model":"m","input":"x","tools":{}}`, api.CodeInvalidRequest, "tools"},
		{"reasoning wrong shape", `{"model":"m","input":"x","reasoning":"high"}`, api.CodeInvalidRequest, "reasoning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := responses.ParseRequest([]byte(tt.body))
			if e == nil {
				t.Fatal("accepted")
			}
			param := ""
			if e.Param != nil {
				param = *e.Param
			}
			if e.Code != tt.code || param != tt.param || e.HTTPStatus() != 400 || e.Message == "" {
				t.Fatalf("got %s param %q status %d: %s", e.Code, param, e.HTTPStatus(), e.Message)
			}
		})
	}
}

func TestPeekRequest(t *testing.T) {
	tests := []struct {
		name, body    string
		model         string
		stream, image bool
		max           int64
		initiator     string
		code          api.Code
	}{
		{"string input", `{"model":"gpt-5-codex","input":"hi","stream":true,"max_output_tokens":900}`, "gpt-5-codex", true, false, 900, "user", ""},
		{"tool output last", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call_output","call_id":"c","output":"ok"}]}`, "m", false, false, 0, "agent", ""},
		{"user last, image", `{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:,"}]}]}`, "m", false, true, 0, "user", ""},
		{"image in tool output", `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"data:,"}]}]}`, "m", false, true, 0, "agent", ""},
		{"image word in text only", `{"model":"m","input":[{"role":"user","content":"say \"input_image\""}]}`, "m", false, false, 0, "user", ""},
		{"assistant last", `{"model":"m","input":[{"role":"assistant","content":"x"}]}`, "m", false, false, 0, "agent", ""},
		{"null stream and max", `{"model":"m","input":"x","stream":null,"max_output_tokens":null}`, "m", false, false, 0, "user", ""},
		{"case variant", `{"model":"m","input":"x","Max_Output_Tokens":1}`, "", false, false, 0, "", api.CodeInvalidRequest},
		{"negative max", `{"model":"m","input":"x","max_output_tokens":-1}`, "", false, false, 0, "", api.CodeInvalidRequest},
		{"float max", `{"model":"m","input":"x","max_output_tokens":1.5}`, "", false, false, 0, "", api.CodeInvalidRequest},
		{"empty model", `{"model":"","input":"x"}`, "", false, false, 0, "", api.CodeInvalidRequest},
		{"no input", `{"model":"m"}`, "", false, false, 0, "", api.CodeMissingField},
		{"bad input", `{"model":"m","input":true}`, "", false, false, 0, "", api.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, e := responses.PeekRequest([]byte(tt.body))
			if tt.code != "" {
				if e == nil || e.Code != tt.code {
					t.Fatalf("got %+v, %v; want %s", p, e, tt.code)
				}
				return
			}
			if e != nil {
				t.Fatal(e)
			}
			if p.Model != tt.model || p.Stream != tt.stream || p.HasImage != tt.image || p.MaxOutputTokens != tt.max || p.Initiator() != tt.initiator {
				t.Fatalf("peek %+v initiator %s", p, p.Initiator())
			}
		})
	}
}

// Peek and ParseRequest agree on the fixtures.
func TestPeekMatchesParse(t *testing.T) {
	for _, name := range []string{"codex_request.json", "codex_function_roundtrip.json", "image_request.json"} {
		body := readFile(t, name)
		p, e := responses.PeekRequest(body)
		if e != nil {
			t.Fatal(e)
		}
		req := loadRequest(t, name)
		if p.Model != req.Model || p.Stream != req.Stream {
			t.Errorf("%s: peek %+v", name, p)
		}
		if (req.MaxOutputTokens == nil) != (p.MaxOutputTokens == 0) {
			t.Errorf("%s: max %d", name, p.MaxOutputTokens)
		}
	}
	if p, _ := responses.PeekRequest(readFile(t, "image_request.json")); !p.HasImage || p.Initiator() != "user" {
		t.Errorf("image request: %+v", p)
	}
	if p, _ := responses.PeekRequest(readFile(t, "codex_function_roundtrip.json")); p.HasImage || p.Initiator() != "user" {
		t.Errorf("round trip request: %+v", p)
	}
}
