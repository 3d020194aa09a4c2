package responses_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

func toChat(t *testing.T, req *responses.Request) (*openai.ChatRequest, responses.Notes) {
	t.Helper()
	out, notes, err := responses.ToChat(req)
	if err != nil {
		t.Fatal(err)
	}
	// What the gateway sends must be valid chat JSON that decodes back.
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back openai.ChatRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return out, notes
}

func roles(msgs []openai.Message) string {
	var r []string
	for _, m := range msgs {
		s := m.Role
		if len(m.ToolCalls) > 0 {
			s += fmt.Sprintf("+callx%d", len(m.ToolCalls))
		}
		r = append(r, s)
	}
	return strings.Join(r, ",")
}

func TestToChatCodexRequest(t *testing.T) {
	out, notes := toChat(t, loadRequest(t, "codex_request.json"))
	if got := roles(out.Messages); got != "system,system,user,user,user" {
		t.Fatalf("roles %s", got)
	}
	if !strings.HasPrefix(out.Messages[0].Content.PlainText(), "You are Codex") ||
		!strings.Contains(out.Messages[1].Content.PlainText(), "permissions instructions") {
		t.Fatalf("system messages %s", mustJSON(t, out.Messages[:2]))
	}
	if out.Messages[4].Content.Text == nil { // one input_text part becomes the string form
		t.Fatalf("user content %s", mustJSON(t, out.Messages[4].Content))
	}
	var names []string
	for _, tool := range out.Tools {
		names = append(names, tool.Function.Name)
	}
	want := []string{"shell", "update_plan", "apply_patch", "view_image", "list_mcp_resources", "list_mcp_resource_templates",
		"read_mcp_resource", "exec_command", "write_stdin", "grep_files", "mcp__github__create_issue", "mcp__github__search_code"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("tools %v", names)
	}
	if s := out.Tools[6].Function.Strict; s == nil || !*s {
		t.Fatal("strict lost")
	}
	if !reflect.DeepEqual(notes.DroppedTools, []string{"web_search"}) || len(notes.DroppedItems) != 0 {
		t.Fatalf("notes %+v", notes)
	}
	switch {
	case out.ToolChoice == nil || out.ToolChoice.Mode != "auto", out.ParallelToolCalls == nil || !*out.ParallelToolCalls:
		t.Fatalf("tool_choice %+v parallel %v", out.ToolChoice, out.ParallelToolCalls)
	case !out.Stream || out.StreamOptions == nil || !out.StreamOptions.IncludeUsage:
		t.Fatal("stream without include_usage")
	case out.ReasoningEffort != "" || out.MaxTokens != nil || len(out.Extra) != 0:
		t.Fatalf("settings %+v", out)
	}
}

func TestToChatFunctionRoundTrip(t *testing.T) {
	out, notes := toChat(t, loadRequest(t, "codex_function_roundtrip.json"))
	if got := roles(out.Messages); got != "system,system,user,assistant+callx2,tool,tool,assistant+callx1,tool,assistant,user" {
		t.Fatalf("roles %s\n%s", got, mustJSON(t, out.Messages))
	}
	a := out.Messages[3]
	if a.Content.PlainText() != "I'll look at go.mod and the CI config." || a.ToolCalls[0].ID != "call_A1" ||
		a.ToolCalls[1].Function.Arguments != `{"command":["ls",".github/workflows"]}` || a.ReasoningOpaque != "" {
		t.Fatalf("assistant %s", mustJSON(t, a))
	}
	if m := out.Messages[5]; m.ToolCallID != "call_B2" || m.Content.PlainText() != "ci.yml\n" {
		t.Fatalf("tool output parts %s", mustJSON(t, m))
	}
	// The reasoning item this package made goes back as Copilot reasoning.
	c := out.Messages[6]
	if c.ReasoningOpaque != "b3BhcXVlLXN0YXRlLTE=" || c.ToolCalls[0].Function.Name != "mcp__github__search_code" {
		t.Fatalf("namespaced call %s", mustJSON(t, c))
	}
	if m := out.Messages[7]; m.Content.PlainText() != "rate limited" {
		t.Fatalf("failed tool output %s", mustJSON(t, m))
	}
	if !reflect.DeepEqual(notes.DroppedItems, []string{"reasoning"}) || out.ReasoningEffort != "medium" {
		t.Fatalf("notes %+v effort %q", notes, out.ReasoningEffort)
	}
}

func TestToChatImageAndFormat(t *testing.T) {
	out, notes := toChat(t, loadRequest(t, "image_request.json"))
	parts := out.Messages[0].Content.Parts
	if len(parts) != 2 || parts[1].Type != "image_url" || parts[1].ImageURL.Detail != "high" ||
		!strings.HasPrefix(parts[1].ImageURL.URL, "data:image/png;base64,") {
		t.Fatalf("parts %s", mustJSON(t, parts))
	}
	if out.MaxTokens == nil || *out.MaxTokens != 512 || *out.Temperature != 0.2 || out.Stream || out.StreamOptions != nil {
		t.Fatalf("settings %s", mustJSON(t, out))
	}
	f := out.ResponseFormat
	if f == nil || f.Type != "json_schema" || f.JSONSchema.Name != "caption" || !*f.JSONSchema.Strict || len(f.JSONSchema.Schema) == 0 {
		t.Fatalf("response_format %s", mustJSON(t, f))
	}
	if !notes.Empty() {
		t.Fatalf("notes %+v", notes)
	}
}

func TestToChatSettings(t *testing.T) {
	fn := responses.Tool{Type: "function", Name: "f"}
	ns := responses.Tool{Type: "namespace", Name: "crm", Tools: []responses.Tool{{Type: "function", Name: "f"}, {Type: "custom", Name: "g"}}}
	tests := []struct {
		name   string
		body   string
		tools  []responses.Tool
		check  func(*openai.ChatRequest) bool
		notes  string
		errors bool
	}{
		{"forced function", `{"type":"function","name":"f"}`, []responses.Tool{fn}, func(o *openai.ChatRequest) bool {
			return o.ToolChoice.Function == "f"
		}, "", false},
		{"required", `"required"`, []responses.Tool{fn}, func(o *openai.ChatRequest) bool { return o.ToolChoice.Mode == "required" }, "", false},
		{"choice dropped with the tools", `"required"`, nil, func(o *openai.ChatRequest) bool {
			return o.ToolChoice == nil && o.ParallelToolCalls == nil && o.Tools == nil
		}, "", false},
		{"built-in choice", `{"type":"web_search"}`, []responses.Tool{fn}, func(o *openai.ChatRequest) bool { return o.ToolChoice == nil }, "fields:tool_choice", false},
		{"namespace flattened, custom dropped", `"auto"`, []responses.Tool{fn, ns}, func(o *openai.ChatRequest) bool {
			return len(o.Tools) == 2 && o.Tools[1].Function.Name == "crm__f" && string(o.Tools[1].Function.Parameters) == `{"type":"object","properties":{}}`
		}, "tools:custom", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &responses.Request{Model: "m", Input: responses.TextInput("hi"), Tools: tt.tools}
			var c responses.ToolChoice
			if err := json.Unmarshal([]byte(tt.body), &c); err != nil {
				t.Fatal(err)
			}
			par := true
			req.ToolChoice, req.ParallelToolCalls = &c, &par
			out, notes := toChat(t, req)
			if !tt.check(out) {
				t.Fatalf("chat %s", mustJSON(t, out))
			}
			got := ""
			if len(notes.DroppedFields) > 0 {
				got = "fields:" + strings.Join(notes.DroppedFields, ",")
			}
			if len(notes.DroppedTools) > 0 {
				got = "tools:" + strings.Join(notes.DroppedTools, ",")
			}
			if got != tt.notes {
				t.Fatalf("notes %+v", notes)
			}
		})
	}
}

func TestToChatErrorsAndEdgeCases(t *testing.T) {
	if _, _, err := responses.ToChat(nil); err == nil {
		t.Fatal("nil request accepted")
	}
	req, _ := responses.ParseRequest([]byte(`{"model":"m","input":[{"role":"tool","content":"x"}]}`))
	_, _, err := responses.ToChat(req)
	if e, ok := err.(*api.Error); !ok || e.HTTPStatus() != 400 || !strings.Contains(e.Message, "input[0]") {
		t.Fatalf("unknown role: %v", err)
	}
	req, _ = responses.ParseRequest([]byte(`{"model":"m","previous_response_id":"resp_1","input":[
		{"type":"item_reference","id":"msg_1"},{"type":"function_call","call_id":"c","name":"f","arguments":""},
		{"role":"user","content":[{"type":"input_file","file_id":"file-1"},{"type":"input_text","text":"a"},{"type":"input_image","file_id":"file-2"}]}]}`))
	out, notes, err := responses.ToChat(req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Messages[0].ToolCalls[0].Function.Arguments != "{}" || out.Messages[1].Content.PlainText() != "a" {
		t.Fatalf("messages %s", mustJSON(t, out.Messages))
	}
	want := responses.Notes{DroppedItems: []string{"item_reference", "input_file", "input_image"}, DroppedFields: []string{"previous_response_id"}}
	if !reflect.DeepEqual(notes, want) {
		t.Fatalf("notes %+v", notes)
	}
}

func TestFromChatResponse(t *testing.T) {
	req := loadRequest(t, "codex_request.json")
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":5,"model":"claude-sonnet-4.5","choices":[
		{"index":0,"message":{"role":"assistant","content":"Checking.","reasoning_text":"think","reasoning_opaque":"c2ln"},"finish_reason":"stop"},
		{"index":1,"message":{"role":"assistant","content":null,"tool_calls":[
			{"id":"toolu_1","type":"function","function":{"name":"mcp__github__create_issue","arguments":"{\"title\":\"x\"}"}},
			{"id":"","type":"function","function":{"name":"shell","arguments":"{}"}}]},"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":60},"completion_tokens_details":{"reasoning_tokens":8}}}`
	var chat openai.ChatResponse
	if err := json.Unmarshal([]byte(body), &chat); err != nil {
		t.Fatal(err)
	}
	r := responses.FromChatResponse(&chat, req, "resp_abc", 77)
	var lines []string
	for i := range r.Output {
		lines = append(lines, describe(responses.Event{Type: "item", Data: []byte(`{"item":` + mustJSON(t, r.Output[i]) + `}`)}))
	}
	got := strings.Join(lines, "\n")
	want := strings.Join([]string{
		`0 item {reasoning id=rs_abc_0 status= summary=["think"] encrypted="copilot-proxy/chat:c2ln"}`,
		`0 item {message id=msg_abc_1 status=completed text="Checking."}`,
		`0 item {function_call id=fc_abc_2 status=completed call_id=toolu_1 ns="mcp__github__" name=create_issue args="{\"title\":\"x\"}"}`,
		`0 item {function_call id=fc_abc_3 status=completed call_id=call_abc_3 ns="" name=shell args="{}"}`,
	}, "\n")
	if got != want {
		t.Fatalf("output:\n%s\nwant\n%s", got, want)
	}
	in, out, cached := responses.UsageOf(r)
	if r.Status != "completed" || r.ID != "resp_abc" || r.CreatedAt != 77 || in != 100 || out != 20 || cached != 60 ||
		r.Usage.OutputTokensDetails.ReasoningTokens != 8 || r.Model != "claude-sonnet-4.5" {
		t.Fatalf("response %s", mustJSON(t, r))
	}
	// The non-stream answer is the same object the stream's last event
	// carries: check it with the strict decoder.
	decodeStrict(t, responses.Event{Type: responses.EventCompleted,
		Data: []byte(`{"type":"response.completed","sequence_number":0,"response":` + mustJSON(t, r) + `}`)})
}

func TestFromChatResponseIncompleteAndEmpty(t *testing.T) {
	chat := &openai.ChatResponse{Choices: []openai.Choice{{Message: openai.Message{Role: "assistant", Content: openai.TextContent("Once")}, FinishReason: "length"}}}
	r := responses.FromChatResponse(chat, &responses.Request{Model: "m"}, "resp_1", 1)
	if r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Output[0].Status != "incomplete" ||
		r.Usage == nil || r.Usage.TotalTokens != 0 {
		t.Fatalf("response %s", mustJSON(t, r))
	}
	r = responses.FromChatResponse(nil, nil, "resp_2", 1)
	if r.Status != "completed" || len(r.Output) != 0 || !strings.Contains(mustJSON(t, r), `"output":[]`) {
		t.Fatalf("empty %s", mustJSON(t, r))
	}
}

// Chat cannot put text after tool calls in one turn, and tool results must
// follow their calls: such text joins the calls' message.
func TestToChatTextAfterToolCalls(t *testing.T) {
	req, e := responses.ParseRequest([]byte(`{"model":"m","input":[
		{"role":"user","content":"go"},
		{"role":"assistant","content":[{"type":"output_text","text":"before"}]},
		{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
		{"role":"assistant","content":[{"type":"output_text","text":"after"}]},
		{"type":"function_call_output","call_id":"c1","output":"ok"},
		{"role":"assistant","content":"done"}]}`))
	if e != nil {
		t.Fatal(e)
	}
	out, _ := toChat(t, req)
	if got := roles(out.Messages); got != "user,assistant+callx1,tool,assistant" {
		t.Fatalf("roles %s", got)
	}
	if got := out.Messages[1].Content.PlainText(); got != "before\n\nafter" {
		t.Fatalf("text %q", got)
	}
}
