package responses_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

// The chat streams in testdata are shaped as Copilot sends them: a first
// chunk with empty choices and prompt_filter_results, content filter
// fields, text and tool calls in different choices, a tool call whose id
// and name come after its first argument fragment, a late usage chunk.
func TestStreamFromChatGolden(t *testing.T) {
	codex := loadRequest(t, "codex_request.json")
	noInclude := *codex
	noInclude.Include = nil
	tests := []struct {
		name, stream string
		req          *responses.Request
	}{
		{"text", "chat_text.sse", codex},
		{"split_tools", "chat_split_tools.sse", codex},
		{"reasoning", "chat_reasoning.sse", codex},
		{"reasoning_no_include", "chat_reasoning.sse", &noInclude},
		{"length", "chat_length.sse", codex},
		{"no_usage", "chat_no_usage.sse", codex},
		{"cut", "chat_cut.sse", codex},
		{"tool_no_id", "chat_tool_no_id.sse", codex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := runChatStream(t, tt.req, tt.stream)
			var lines []string
			for _, ev := range events {
				decodeStrict(t, ev)
				lines = append(lines, describe(ev))
			}
			if err := checkContract(events); err != nil {
				t.Fatal(err)
			}
			golden(t, "stream_"+tt.name+".golden", strings.Join(lines, "\n")+"\n")
		})
	}
}

// The exact order Codex CLI needs for a text answer.
func TestStreamFromChatCodexTextSequence(t *testing.T) {
	events := runChatStream(t, loadRequest(t, "codex_request.json"), "chat_text.sse")
	want := []string{
		responses.EventCreated, responses.EventInProgress, responses.EventItemAdded, responses.EventPartAdded,
		responses.EventTextDelta, responses.EventTextDelta, responses.EventTextDone, responses.EventPartDone,
		responses.EventItemDone, responses.EventCompleted,
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Type)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("types:\n got %v\nwant %v", got, want)
	}
}

func TestStreamFromChatSplitToolsKeyFields(t *testing.T) {
	events := runChatStream(t, loadRequest(t, "codex_request.json"), "chat_split_tools.sse")
	var calls []responses.Item
	for _, ev := range events {
		if ev.Type != responses.EventItemDone {
			continue
		}
		var e struct{ Item responses.Item }
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Item.Type == responses.ItemFunctionCall {
			calls = append(calls, e.Item)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("calls %+v", calls)
	}
	if c := calls[0]; c.CallID != "toolu_vrtx_01A" || c.Name != "shell" || c.Arguments != `{"command":["ls","-la"]}` || c.ID != "fc_test1_1" {
		t.Errorf("first call %+v", c)
	}
	// The flattened namespace tool comes back with its namespace.
	if c := calls[1]; c.Namespace != "mcp__github__" || c.Name != "search_code" || c.Arguments != `{"query":"func main"}` {
		t.Errorf("second call %+v", c)
	}
}

func TestStreamFromChatLifecycle(t *testing.T) {
	s := responses.NewStreamFromChat(nil, "resp_x", 1)
	fin := s.Finish() // without Start or chunks: still a whole, valid stream
	if err := checkContract(fin); err != nil {
		t.Fatal(err)
	}
	if len(fin) != 3 || fin[2].Type != responses.EventCompleted {
		t.Fatalf("events %v", fin)
	}
	if s.Finish() != nil || s.Start() != nil || s.Chunk(&openai.ChatChunk{}) != nil || s.Fail("x", "") != nil {
		t.Fatal("events after the end")
	}
	s = responses.NewStreamFromChat(nil, "resp_y", 1)
	if len(s.Start()) != 2 || s.Start() != nil || s.Chunk(nil) != nil {
		t.Fatal("Start is not idempotent")
	}
	failed := s.Fail("boom", "")
	if len(failed) != 1 || !strings.Contains(string(failed[0].Data), `"code":"server_error"`) {
		t.Fatalf("fail %s", failed[0].Data)
	}
}

// Text that resumes after a tool call opens a new message item, so items
// stay sequential.
func TestStreamFromChatTextAfterToolCall(t *testing.T) {
	idx := 0
	s := responses.NewStreamFromChat(&responses.Request{Model: "m"}, "resp_z", 1)
	events := s.Start()
	for _, d := range []openai.Delta{
		{Content: "a"},
		{ToolCalls: []openai.ToolCall{{Index: &idx, ID: "c1", Function: openai.FunctionCall{Name: "f", Arguments: "{}"}}}},
		{Content: "b"},
	} {
		events = append(events, s.Chunk(&openai.ChatChunk{Choices: []openai.ChunkChoice{{Delta: d}}})...)
	}
	events = append(events, s.Finish()...)
	if err := checkContract(events); err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	var e struct{ Response responses.Response }
	if err := json.Unmarshal(last.Data, &e); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Response.Output); n != 3 || e.Response.Output[2].Content.PlainText() != "b" {
		t.Fatalf("output %s", mustJSON(t, e.Response.Output))
	}
}
