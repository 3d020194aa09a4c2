package anthropic_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, name string) *anthropic.Request {
	t.Helper()
	req, e := anthropic.ParseRequest(fixture(t, name))
	if e != nil {
		t.Fatalf("%s: %v", name, e)
	}
	return req
}

// TestParseClaudeCodeRequest reads the large Claude Code body: system
// blocks with cache_control, a role "system" message, 25 tools, thinking,
// metadata and context_management.
func TestParseClaudeCodeRequest(t *testing.T) {
	t.Parallel()
	req := mustParse(t, "claude_code_request.json")
	switch {
	case req.Model != "claude-sonnet-4-5-20250929" || req.MaxTokens != 32000 || !req.Stream:
		t.Errorf("model/max_tokens/stream: %q %d %v", req.Model, req.MaxTokens, req.Stream)
	case len(req.System) != 2 || len(req.System[0].CacheControl) == 0:
		t.Errorf("system: %+v", req.System)
	case len(req.Tools) != 25 || req.Tools[0].Name != "Task" || len(req.Tools[0].InputSchema) == 0:
		t.Errorf("tools: %d", len(req.Tools))
	case req.Thinking == nil || req.Thinking.Type != "enabled" || req.Thinking.BudgetTokens != 31999:
		t.Errorf("thinking: %+v", req.Thinking)
	case len(req.Metadata) == 0 || len(req.ContextManagement) == 0:
		t.Errorf("metadata/context_management lost")
	case len(req.Messages) != 6 || req.Messages[3].Role != "system" || req.Messages[3].Content[0].Type != "text":
		t.Errorf("messages: %+v", req.Messages)
	}
	last := req.Messages[5].Content
	if len(last) != 3 || last[0].Type != "tool_result" || !last[0].IsError || last[0].Content[0].Text == "" ||
		last[1].Content[0].Type != "text" || last[2].Type != "text" {
		t.Errorf("last turn: %+v", last)
	}
}

func TestParseRequestErrors(t *testing.T) {
	t.Parallel()
	ok := `"model":"claude-sonnet-4-5","max_tokens":10`
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tt := range []struct {
		body, param, msg string
		code             api.Code
	}{
		{``, "", "empty", api.CodeInvalidJSON},
		{`{"model":`, "", "not valid JSON", api.CodeInvalidJSON},
		{`[1]`, "", "must be a JSON object", api.CodeInvalidRequest},
		{`{` + msgs + `,"max_tokens":5}`, "model", "model: Field required", api.CodeMissingField},
		{`{"model":"","max_tokens":5,` + msgs + `}`, "model", "non-empty string", api.CodeInvalidRequest},
		{`{"model":5,"max_tokens":5,` + msgs + `}`, "model", "non-empty string", api.CodeInvalidRequest},
		{`{"model":"m",` + msgs + `}`, "max_tokens", "max_tokens: Field required", api.CodeMissingField},
		{`{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens", "greater than or equal to 1", api.CodeInvalidRequest},
		{`{"model":"m","max_tokens":1.5,` + msgs + `}`, "max_tokens", "integer", api.CodeInvalidRequest},
		{`{` + ok + `,"stream":"yes",` + msgs + `}`, "stream", "boolean", api.CodeInvalidRequest},
		{`{` + ok + `,"Model":"claude-opus-4-6",` + msgs + `}`, "Model", `did you mean "model"`, api.CodeInvalidRequest},
		{`{` + ok + `,"STREAM":true,` + msgs + `}`, "STREAM", `did you mean "stream"`, api.CodeInvalidRequest},
		{`{` + ok + `,"mod\u0065l":"claude-opus-4-6",` + msgs + `}`, "model", "more than once", api.CodeInvalidRequest},
		{`{` + ok + `,` + msgs + `,"stream":false,"stream":true}`, "stream", "more than once", api.CodeInvalidRequest},
		{`{` + ok + `}`, "messages", "at least 1 item", api.CodeInvalidRequest},
		{`{` + ok + `,"messages":{}}`, "messages", "valid list", api.CodeInvalidRequest},
		{`{` + ok + `,"messages":[{"role":"tool","content":"x"}]}`, "messages.0.role", "'user' or 'assistant'", api.CodeInvalidRequest},
		{`{` + ok + `,"messages":[{"content":"x"}]}`, "messages.0.role", "Field required", api.CodeMissingField},
		{`{` + ok + `,"messages":[{"role":"user","content":5}]}`, "messages.content", "string or a list of content blocks", api.CodeInvalidRequest},
		{`{` + ok + `,"messages":[{"role":"user","content":{"text":"x"}}]}`, "messages.0.content.0.type", "Field required", api.CodeMissingField},
		{`{` + ok + `,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages.0.content.0.type", "Field required", api.CodeMissingField},
		{`{` + ok + `,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"Read","input":{}}]}]}`, "messages.0.content.0.id", "Field required", api.CodeMissingField},
		{`{` + ok + `,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Read","input":[1]}]}]}`, "messages.0.content.0.input", "dictionary", api.CodeInvalidRequest},
		{`{` + ok + `,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "messages.0.content.0.tool_use_id", "Field required", api.CodeMissingField},
		{`{` + ok + `,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":""}]}]}]}`, "messages.0.content.0.content.0.type", "Field required", api.CodeMissingField},
		{`{` + ok + `,"messages":[{"role":"user","content":[{"type":"image"}]}]}`, "messages.0.content.0.source", "Field required", api.CodeMissingField},
		{`{` + ok + `,` + msgs + `,"system":[{"type":"image","source":{"type":"url","url":"u"}}]}`, "system.0.type", "'text'", api.CodeInvalidRequest},
		{`{` + ok + `,` + msgs + `,"tools":[{"input_schema":{}}]}`, "tools.0.name", "Field required", api.CodeMissingField},
		{`{` + ok + `,` + msgs + `,"tools":[{"name":"a","input_schema":"x"}]}`, "tools.0.input_schema", "dictionary", api.CodeInvalidRequest},
		{`{` + ok + `,` + msgs + `,"tool_choice":{"type":"tool"}}`, "tool_choice.name", "Field required", api.CodeMissingField},
		{`{` + ok + `,` + msgs + `,"tool_choice":{"type":"sometimes"}}`, "tool_choice.type", "'auto', 'any'", api.CodeInvalidRequest},
		{`{` + ok + `,` + msgs + `,"thinking":{"type":"enabled"}}`, "thinking.budget_tokens", "greater than or equal to 1", api.CodeInvalidRequest},
		{`{` + ok + `,` + msgs + `,"thinking":{"type":"deep"}}`, "thinking.type", "'enabled', 'disabled' or 'adaptive'", api.CodeInvalidRequest},
		{`{` + ok + `,` + msgs + `,"temperature":"hot"}`, "temperature", "valid number", api.CodeInvalidRequest},
	} {
		_, e := anthropic.ParseRequest([]byte(tt.body))
		if e == nil {
			t.Errorf("%s: accepted", tt.body)
			continue
		}
		param := ""
		if e.Param != nil {
			param = *e.Param
		}
		if e.Code != tt.code || param != tt.param || !strings.Contains(e.Message, tt.msg) || e.HTTPStatus() != http.StatusBadRequest {
			t.Errorf("%s:\n got %s %q %q (%d)\nwant %s %q ~%q", tt.body, e.Code, param, e.Message, e.HTTPStatus(), tt.code, tt.param, tt.msg)
		}
	}
}

// TestParseTolerant: what Anthropic accepts and the gateway has no use for
// is accepted: unknown fields, output_config, null optionals, server tools,
// unknown block types, role "system" messages.
func TestParseTolerant(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","max_tokens":5,"future_field":{"a":1},"output_config":{"effort":"high","format":null},
	"system":null,"temperature":null,"stop_sequences":null,"metadata":{"user_id":"u"},"service_tier":"auto",
	"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"type":"custom","name":"f","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
	"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"search_result","source":"x","title":"t","content":[]},{"type":"text","text":"hi","citations":null}]},
	{"role":"assistant","content":[{"type":"redacted_thinking","data":"abc"},{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]}`
	req, e := anthropic.ParseRequest([]byte(body))
	if e != nil {
		t.Fatal(e)
	}
	if req.OutputConfig.Effort != "high" || len(req.Tools) != 2 || req.Tools[0].IsCustom() || !req.Tools[1].IsCustom() {
		t.Errorf("%+v", req)
	}
	if _, e := anthropic.ParseCountTokensRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`)); e != nil {
		t.Errorf("count_tokens without max_tokens: %v", e)
	}
}

func TestPeekRequest(t *testing.T) {
	t.Parallel()
	cc, e := anthropic.PeekRequest(fixture(t, "claude_code_request.json"))
	if e != nil || cc.Model != "claude-sonnet-4-5-20250929" || !cc.Stream || cc.MaxTokens != 32000 ||
		cc.LastRole != "user" || !cc.LastHasToolResult || cc.HasImage || cc.Initiator() != "agent" {
		t.Fatalf("claude code: %+v %v", cc, e)
	}
	img, e := anthropic.PeekRequest(fixture(t, "image_request.json"))
	if e != nil || !img.HasImage || img.Stream || img.Initiator() != "user" {
		t.Fatalf("image: %+v %v", img, e)
	}
	for _, tt := range []struct {
		body      string
		initiator string
		image     bool
	}{
		{`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "user", false},
		{`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}]}`, "agent", false},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{}}]}]}]}`, "agent", true},
		{`{"model":"m","messages":[{"role":"user","content":"describe \"image\""}]}`, "user", false},
		{`{"model":"m","messages":"not a list"}`, "agent", false},
		{`{"model":"m"}`, "agent", false},
	} {
		p, e := anthropic.PeekRequest([]byte(tt.body))
		if e != nil || p.Initiator() != tt.initiator || p.HasImage != tt.image {
			t.Errorf("%s: %+v %v", tt.body, p, e)
		}
	}
	for _, bad := range []string{`{"messages":[]}`, `{"model":"m","stream":1}`, `{"model":"m","max_tokens":-1}`, `{"model":"m","MODEL":"x"}`, `x`} {
		if _, e := anthropic.PeekRequest([]byte(bad)); e == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
