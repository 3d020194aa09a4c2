package anthropic_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// chatChunks is a recorded chat stream (SSE data lines) decoded chunk by
// chunk, and whether it ended with data: [DONE].
func chatChunks(t testing.TB, sse []byte) (chunks []*openai.ChatChunk, done bool) {
	t.Helper()
	for _, ev := range bytes.Split(sse, []byte("\n\n")) {
		data, ok := bytes.CutPrefix(bytes.TrimSpace(ev), []byte("data: "))
		if !ok {
			continue
		}
		if string(data) == "[DONE]" {
			return chunks, true
		}
		c := new(openai.ChatChunk)
		if err := json.Unmarshal(data, c); err != nil {
			t.Fatalf("bad chunk %s: %v", data, err)
		}
		chunks = append(chunks, c)
	}
	return chunks, false
}

// replay feeds a recorded chat stream (SSE data lines) to a StreamFromChat
// as the gateway does: Chunk per data line, Finish at [DONE], Fail when the
// recording ends without [DONE].
func replay(t testing.TB, sse []byte) []anthropic.Event {
	t.Helper()
	chunks, done := chatChunks(t, sse)
	s := anthropic.NewStreamFromChat("msg_test01", "claude-sonnet-4-5-20250929")
	events := s.Start()
	for _, c := range chunks {
		events = append(events, s.Chunk(c)...)
	}
	if done {
		return append(events, s.Finish()...)
	}
	return append(events, s.Fail(anthropic.ErrorType(502), "The upstream stream ended before it was complete.")...)
}

func sseText(events []anthropic.Event) []byte {
	var b bytes.Buffer
	for _, e := range events {
		b.Write(e.SSE())
	}
	return b.Bytes()
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestStreamGolden replays Copilot-shaped chat streams and compares the
// Messages events with golden files, and checks each sequence against the
// grammar and the expected content.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		stop   string
		blocks []string // "text:..." or "tool_use:id:name:input"
		usage  anthropic.Usage
		failed bool
	}{
		{name: "text", stop: "end_turn", blocks: []string{"text:Hello, \"world\" \u00e9\n"},
			usage: anthropic.Usage{InputTokens: 186, CacheReadInputTokens: 1024, OutputTokens: 5}},
		{name: "split_choices", stop: "tool_use", blocks: []string{
			"text:I'll read the file first.",
			`tool_use:toolu_vrtx_01Rd:Read:{"file_path": "/home/dev/a.go"}`,
			"text: Then I'll run the tests."},
			usage: anthropic.Usage{InputTokens: 343, CacheReadInputTokens: 19968, OutputTokens: 48}},
		{name: "parallel_tools", stop: "tool_use", blocks: []string{
			`tool_use:call_A1:get_weather:{"location": "San Francisco, CA"}`,
			`tool_use:call_B2:get_weather:{"location": "Paris, France"}`},
			usage: anthropic.Usage{InputTokens: 412, OutputTokens: 38}},
		{name: "cut", failed: true, blocks: []string{"text:Let me think about this"}},
		{name: "length", stop: "max_tokens", blocks: []string{"text:A very long answer that stops"}},
		{name: "no_id", stop: "tool_use", blocks: []string{`tool_use:toolu_0_0_msg_test01:Bash:{"command":"ls"}`},
			usage: anthropic.Usage{InputTokens: 90, OutputTokens: 12}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sse, err := os.ReadFile(filepath.Join("testdata", "streams", tt.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			events := replay(t, sse)
			golden(t, filepath.Join("streams", tt.name+".golden"), sseText(events))
			got, err := checkEvents(events)
			if err != nil {
				t.Fatalf("grammar: %v\n%s", err, sseText(events))
			}
			if got.failed != tt.failed || got.stopReason != tt.stop || got.usage != tt.usage {
				t.Errorf("failed %v stop %q usage %+v; want %v %q %+v", got.failed, got.stopReason, got.usage, tt.failed, tt.stop, tt.usage)
			}
			if blocks := describe(got); strings.Join(blocks, "\n") != strings.Join(tt.blocks, "\n") {
				t.Errorf("blocks:\n%s\nwant:\n%s", strings.Join(blocks, "\n"), strings.Join(tt.blocks, "\n"))
			}
		})
	}
}

func describe(s streamed) []string {
	var out []string
	for i, b := range s.blocks {
		if b.Type == anthropic.BlockText {
			out = append(out, "text:"+b.Text)
			continue
		}
		out = append(out, "tool_use:"+b.ID+":"+b.Name+":"+s.partial[i])
	}
	return out
}

// TestStreamLifecycle: Start is idempotent, nothing follows the end, Fail
// before anything is one error event, a stream with no content is still a
// whole message.
func TestStreamLifecycle(t *testing.T) {
	t.Parallel()
	s := anthropic.NewStreamFromChat("msg_1", "m")
	if e := s.Start(); len(e) != 1 || e[0].Type != anthropic.EventMessageStart {
		t.Fatalf("Start = %v", e)
	}
	if e := s.Start(); len(e) != 0 {
		t.Fatalf("second Start = %v", e)
	}
	end := s.Finish()
	if got, err := checkEvents(append([]anthropic.Event{{Type: "message_start", Data: []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{}}}`)}}, end...)); err != nil || got.stopReason != "end_turn" || len(got.blocks) != 0 {
		t.Fatalf("empty message: %+v %v", got, err)
	}
	if s.Finish() != nil || s.Fail("api_error", "x") != nil || s.Chunk(&openai.ChatChunk{}) != nil || s.Start() != nil {
		t.Fatal("events after the end")
	}
	f := anthropic.NewStreamFromChat("msg_2", "m").Fail(anthropic.ErrOverloaded, "busy")
	if len(f) != 1 || string(f[0].Data) != `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}` {
		t.Fatalf("Fail = %s", sseText(f))
	}
}

// TestStreamMessageStartUsage: usage known before the first event goes into
// message_start; the output count never does.
func TestStreamMessageStartUsage(t *testing.T) {
	t.Parallel()
	s := anthropic.NewStreamFromChat("msg_u", "m")
	ev := s.Chunk(&openai.ChatChunk{Usage: &openai.Usage{PromptTokens: 100, CompletionTokens: 7,
		PromptTokensDetails: &openai.PromptTokensDetails{CachedTokens: 60}}})
	want := `{"type":"message_start","message":{"id":"msg_u","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":40,"cache_creation_input_tokens":0,"cache_read_input_tokens":60,"output_tokens":0}}}`
	if len(ev) != 1 || string(ev[0].Data) != want {
		t.Fatalf("got %s\nwant %s", sseText(ev), want)
	}
}

// TestStreamInterleavedCalls: a call whose arguments resume after another
// call of a different choice began loses nothing: the second waits.
func TestStreamInterleavedCalls(t *testing.T) {
	t.Parallel()
	s := anthropic.NewStreamFromChat("msg_i", "m")
	var events []anthropic.Event
	chunk := func(choice, index int, id, name, args string) {
		i := index
		events = append(events, s.Chunk(&openai.ChatChunk{Choices: []openai.ChunkChoice{{Index: choice,
			Delta: openai.Delta{ToolCalls: []openai.ToolCall{{Index: &i, ID: id, Function: openai.FunctionCall{Name: name, Arguments: args}}}}}}})...)
	}
	chunk(0, 0, "a", "A", `{"x":`)
	chunk(1, 0, "b", "B", `{"y":`)
	chunk(0, 0, "", "", `1}`)
	chunk(1, 0, "", "", `2}`)
	// Index 0 again with a new id (as some upstreams number every call 0).
	chunk(0, 0, "c", "C", `{"z":3}`)
	events = append(events, s.Finish()...)
	got, err := checkEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	if d := strings.Join(describe(got), "|"); d != `tool_use:a:A:{"x":1}|tool_use:b:B:{"y":2}|tool_use:c:C:{"z":3}` {
		t.Fatalf("blocks %s", d)
	}
}
