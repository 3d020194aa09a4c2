package anthropic_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

func toChat(t *testing.T, req *anthropic.Request) (*openai.ChatRequest, anthropic.Notes, []byte) {
	t.Helper()
	chat, notes, err := anthropic.ToChat(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(chat)
	if err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, body, "", " "); err != nil {
		t.Fatal(err)
	}
	return chat, notes, append(indented.Bytes(), '\n')
}

func roles(msgs []openai.Message) string {
	var r []string
	for _, m := range msgs {
		r = append(r, m.Role)
	}
	return strings.Join(r, ",")
}

// TestToChatClaudeCode converts the large Claude Code request; the chat
// body is compared with a golden file.
func TestToChatClaudeCode(t *testing.T) {
	t.Parallel()
	chat, notes, body := toChat(t, mustParse(t, "claude_code_request.json"))
	golden(t, "golden/claude_code_request.chat.json", body)
	// system, user, assistant(text+call), tool, system, assistant(2 calls), tool, tool, user
	if got := roles(chat.Messages); got != "system,user,assistant,tool,system,assistant,tool,tool,user" {
		t.Fatalf("roles %s", got)
	}
	sys := *chat.Messages[0].Content.Text
	if !strings.HasPrefix(sys, "You are Claude Code, Anthropic's official CLI for Claude.\n\nYou are an interactive CLI tool") {
		t.Errorf("system prompt: %.120q", sys)
	}
	if p := chat.Messages[1].Content.Parts; len(p) != 2 || p[1].Text != "The TestChunkUsage test fails after my change to api/usage.go. Can you find out why and fix it?" {
		t.Errorf("first user turn: %+v", p)
	}
	a := chat.Messages[2]
	if *a.Content.Text != "I'll start by reading the test and the code it exercises." || len(a.ToolCalls) != 1 ||
		a.ToolCalls[0].Function.Arguments != `{"file_path":"/home/dev/copilot-proxy/api/usage_test.go"}` || a.ToolCalls[0].ID != "toolu_01A09q90qw90lq917835lq9" {
		t.Errorf("assistant turn: %+v", a)
	}
	if m := chat.Messages[6]; m.ToolCallID != "toolu_01BxqVwCtwu7j8SJ2P3nT6yE" || !strings.HasPrefix(*m.Content.Text, "Error: --- FAIL: TestChunkUsage") {
		t.Errorf("error tool result: %+v", m)
	}
	if m := chat.Messages[8]; *m.Content.Text != "Also keep the README in sync if the behaviour changes." {
		t.Errorf("text after tool results: %+v", m)
	}
	if len(chat.Tools) != 25 || chat.Tools[1].Function.Name != "Bash" || !bytes.Contains(chat.Tools[1].Function.Parameters, []byte(`"run_in_background"`)) {
		t.Errorf("tools: %d", len(chat.Tools))
	}
	if *chat.MaxTokens != 32000 || !chat.StreamOptions.IncludeUsage || *chat.Temperature != 1 || chat.ReasoningEffort != "" {
		t.Errorf("options: %+v", chat)
	}
	if bytes.Contains(body, []byte("cache_control")) || bytes.Contains(body, []byte("signature")) || bytes.Contains(body, []byte("user_id")) {
		t.Error("cache_control, a thinking signature or metadata reached the chat body")
	}
	if want := (anthropic.Notes{"dropped item: thinking", "dropped field: reasoning_effort"}); !reflect.DeepEqual(notes, want) {
		t.Errorf("notes %+v", notes)
	}
}

// TestToChatToolConversation: a multi-turn tool conversation with
// tool_choice any, a server tool, stop sequences, top_k, adaptive thinking
// with an effort.
func TestToChatToolConversation(t *testing.T) {
	t.Parallel()
	req := mustParse(t, "tool_conversation.json")
	req.Model = "gpt-5"
	chat, notes, body := toChat(t, req)
	golden(t, "golden/tool_conversation.chat.json", body)
	if got := roles(chat.Messages); got != "system,user,assistant,tool,tool,user" {
		t.Fatalf("roles %s", got)
	}
	if tc := chat.Messages[2].ToolCalls; len(tc) != 2 || tc[1].Function.Arguments != `{"location":"Paris, France","unit":"celsius"}` {
		t.Errorf("tool calls %+v", tc)
	}
	if *chat.Messages[4].Content.Text != "Error: Service unavailable" || *chat.Messages[3].Content.Text != "62°F, foggy" {
		t.Errorf("tool results %q %q", *chat.Messages[3].Content.Text, *chat.Messages[4].Content.Text)
	}
	if chat.ToolChoice.Mode != "required" || *chat.ParallelToolCalls || len(chat.Tools) != 1 || chat.ReasoningEffort != "medium" ||
		!slices.Equal(chat.Stop, []string{"\n\nHuman:"}) || *chat.TopP != 0.9 || chat.Stream || chat.StreamOptions != nil {
		t.Errorf("options: %s", body)
	}
	if want := (anthropic.Notes{"dropped tool: web_search (web_search_20250305)", "dropped field: top_k"}); !reflect.DeepEqual(notes, want) {
		t.Errorf("notes %+v", notes)
	}
}

// TestToChatImages: base64 images become data: URLs, URL images stay URLs.
func TestToChatImages(t *testing.T) {
	t.Parallel()
	chat, notes, _ := toChat(t, mustParse(t, "image_request.json"))
	p := chat.Messages[0].Content.Parts
	if len(p) != 3 || !strings.HasPrefix(p[0].ImageURL.URL, "data:image/png;base64,iVBORw0KGgo") ||
		p[1].ImageURL.URL != "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg" || p[2].Text == "" || !notes.Empty() {
		t.Fatalf("parts %+v notes %q", p, notes)
	}
}

func TestToChatEdges(t *testing.T) {
	t.Parallel()
	parse := func(body string) *anthropic.Request {
		req, e := anthropic.ParseRequest([]byte(body))
		if e != nil {
			t.Fatalf("%s: %v", body, e)
		}
		return req
	}
	// A tool result with an image: the image moves to a user message.
	chat, notes, _ := toChat(t, parse(`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1",
		"content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]}]}]}`))
	if roles(chat.Messages) != "tool,user" || !strings.Contains(*chat.Messages[0].Content.Text, "image") ||
		chat.Messages[1].Content.Parts[1].ImageURL.URL != "data:image/jpeg;base64,/9j/" || !notes.Empty() {
		t.Errorf("image in tool result: %+v %q", chat.Messages, notes)
	}
	// Only thinking left in an assistant turn: the turn is omitted; a
	// named tool choice and no-parallel; a tool without schema.
	chat, _, body := toChat(t, parse(`{"model":"o4-mini","max_tokens":9,"thinking":{"type":"enabled","budget_tokens":4000},
		"tools":[{"name":"f"}],"tool_choice":{"type":"tool","name":"f"},
		"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s"}]},{"role":"user","content":"b"}]}`))
	if roles(chat.Messages) != "user,user" || chat.ToolChoice.Function != "f" || chat.ReasoningEffort != "low" ||
		string(chat.Tools[0].Function.Parameters) != `{"type":"object","properties":{}}` || !bytes.Contains(body, []byte(`"tool_choice": {`)) {
		t.Errorf("%s", body)
	}
	// tool_choice without tools is dropped; nothing to send is an error.
	chat, _, _ = toChat(t, parse(`{"model":"m","max_tokens":9,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"a"}]}`))
	if chat.ToolChoice != nil {
		t.Errorf("tool_choice without tools: %+v", chat.ToolChoice)
	}
	if _, _, err := anthropic.ToChat(parse(`{"model":"m","max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s"}]}]}`)); err == nil {
		t.Error("a request with nothing to send was converted")
	}
	// Documents and images the chat request cannot carry are listed.
	_, notes, _ = toChat(t, parse(`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"read"},
		{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},
		{"type":"document","title":"T","source":{"type":"text","media_type":"text/plain","data":"plain"}},
		{"type":"image","source":{"type":"file","file_id":"file_1"}},{"type":"search_result","source":"s","title":"t","content":[]}]}]}`))
	if want := (anthropic.Notes{"dropped item: document (PDF)", "dropped item: image (file)", "dropped item: search_result"}); !slices.Equal(notes, want) {
		t.Errorf("notes %q", notes)
	}
	if _, _, err := anthropic.ToChat(nil); err == nil {
		t.Error("nil request converted")
	}
}

func TestReasoningEffort(t *testing.T) {
	t.Parallel()
	th := func(typ string, budget int) *anthropic.Thinking {
		return &anthropic.Thinking{Type: typ, BudgetTokens: budget}
	}
	for _, tt := range []struct {
		thinking *anthropic.Thinking
		effort   string
		want     string
	}{
		{nil, "", ""},
		{th("enabled", 1024), "", "low"},
		{th("enabled", 4000), "", "low"},
		{th("enabled", 8191), "", "low"},
		{th("enabled", 8192), "", "medium"},
		{th("enabled", 10000), "", "medium"},
		{th("enabled", 16000), "", "medium"},
		{th("enabled", 24576), "", "high"},
		{th("enabled", 31999), "", "high"},
		{th("adaptive", 0), "", ""},
		{th("adaptive", 0), "low", "low"},
		{th("adaptive", 0), "MAX", "high"},
		{th("adaptive", 0), "xhigh", "high"},
		{th("enabled", 2000), "high", "high"},
		{nil, "medium", "medium"},
		{th("disabled", 0), "high", ""},
		{nil, "unknown", ""},
	} {
		req := &anthropic.Request{Thinking: tt.thinking}
		if tt.effort != "" {
			req.OutputConfig = &anthropic.OutputConfig{Effort: tt.effort}
		}
		if got := anthropic.ReasoningEffort(req); got != tt.want {
			t.Errorf("%+v effort %q: %q, want %q", tt.thinking, tt.effort, got, tt.want)
		}
	}
}
