package responses_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

// FuzzParseRequest: no body may panic ParseRequest, PeekRequest or the
// translation of an accepted request. A rejection is a 4xx with a message;
// an accepted request encodes to a body ParseRequest accepts again, and
// PeekRequest reads the same model and stream from it; its chat
// translation encodes to a valid chat body.
func FuzzParseRequest(f *testing.F) {
	for _, name := range []string{"codex_request.json", "codex_function_roundtrip.json", "image_request.json"} {
		f.Add(readFile(f, name))
	}
	for _, s := range []string{
		`{"model":"m","input":"hi"}`, `{"model":"m","input":[]}`, `{"model":"m","MODEL":"n","input":"x"}`,
		`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":{"x":1}}]}`,
		`{"model":"m","input":[{"role":"user","content":null}],"tools":[{"type":"namespace","name":"a.b","tools":[{"type":"function","name":"` + strings.Repeat("x", 70) + `"}]}]}`,
		`{"model":"m","input":"x","max_output_tokens":-3,"tool_choice":{"type":"function"}}`, `[]`, `null`, `{"model":"m","input":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		peek, pe := responses.PeekRequest(body)
		req, e := responses.ParseRequest(body)
		for _, e := range []*api.Error{e, pe} {
			if e != nil && (e.HTTPStatus() < 400 || e.HTTPStatus() > 499 || e.Message == "") {
				t.Fatalf("rejection %+v", e)
			}
		}
		if e != nil {
			return
		}
		if pe == nil && (peek.Model != req.Model || peek.Stream != req.Stream) {
			t.Fatalf("peek %+v, parse model %q stream %v", peek, req.Model, req.Stream)
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, e := responses.ParseRequest(enc); e != nil {
			t.Fatalf("re-parse %s: %v", enc, e)
		}
		chat, _, err := responses.ToChat(req)
		if err != nil {
			return
		}
		if b, err := json.Marshal(chat); err != nil || !json.Valid(b) {
			t.Fatalf("chat body: %v", err)
		}
		_, _ = responses.FromChat(chat)
	})
}

// chatStreamSeeds are the recorded chat streams, one chunk per line.
func chatStreamSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "chat_*.sse"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		datas, done := sseData(b)
		seed := bytes.Join(datas, []byte("\n"))
		if !done {
			seed = append([]byte("!"), seed...)
		}
		f.Add(seed)
	}
}

// FuzzStreamFromChat: any sequence of chunks (one JSON per line; a first
// "!" makes the stream cut) gives a stream that keeps the whole contract
// Codex relies on (contract_test.go) and whose events decode strictly.
func FuzzStreamFromChat(f *testing.F) {
	chatStreamSeeds(f)
	f.Add([]byte(`{"choices":[{"index":2,"delta":{"tool_calls":[{"function":{"arguments":"{"}},{"index":0,"id":"a","function":{"name":"x"}}]}}]}` + "\n" +
		`{"choices":[{"index":2,"delta":{"content":"t","reasoning_opaque":"o","tool_calls":[{"index":0,"id":"b","function":{"name":"y","arguments":"1"}}]},"finish_reason":"length"}]}`))
	req := &responses.Request{Model: "m", Include: []string{"reasoning.encrypted_content"},
		Tools: []responses.Tool{{Type: "namespace", Name: "ns", Tools: []responses.Tool{{Type: "function", Name: "f"}}}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		cut := bytes.HasPrefix(data, []byte("!"))
		s := responses.NewStreamFromChat(req, "resp_f", 1)
		events := s.Start()
		for _, line := range bytes.Split(bytes.TrimPrefix(data, []byte("!")), []byte("\n")) {
			var c openai.ChatChunk
			if json.Unmarshal(line, &c) == nil {
				events = append(events, s.Chunk(&c)...)
			}
		}
		if cut {
			events = append(events, s.Fail("cut", "")...)
		} else {
			events = append(events, s.Finish()...)
		}
		for _, ev := range events {
			if _, err := strictEvent(ev); err != nil {
				t.Fatalf("%s: %v\n%s", ev.Type, err, ev.Data)
			}
		}
		if err := checkContract(events); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzStreamToChat: any sequence of events (one per line, "name<TAB>data"
// or data alone) translates without panicking into chunks that encode, and
// nothing follows the end of the stream.
func FuzzStreamToChat(f *testing.F) {
	names, datas := sseEvents(readFile(f, "responses_stream.sse"))
	var lines []string
	for i := range names {
		lines = append(lines, names[i]+"\t"+string(datas[i]))
	}
	f.Add([]byte(strings.Join(lines, "\n")))
	f.Add([]byte("response.failed\t{\"response\":{\"error\":{\"code\":7}}}\nerror\t{\"code\":\"x\"}"))
	f.Add([]byte("\t{\"type\":\"response.output_item.added\",\"item\":{\"type\":\"function_call\"}}\n\t{\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,\"delta\":\"{\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := responses.NewStreamToChat("m")
		for _, line := range bytes.Split(data, []byte("\n")) {
			name, ev, ok := bytes.Cut(line, []byte("\t"))
			if !ok {
				name, ev = nil, line
			}
			wasDone := s.Done()
			chunks, err := s.Event(string(name), ev)
			if wasDone && (chunks != nil || err != nil) {
				t.Fatal("output after the end")
			}
			for _, c := range chunks {
				if _, err := json.Marshal(c); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// chunkFromOps builds a chat chunk from a few bytes, so that the fuzzer
// explores interleavings of text, reasoning, opaque state, tool call
// fragments (id and name early, late or never; several choices and
// indexes), finish reasons and usage rather than JSON syntax.
func chunkFromOps(op []byte) openai.ChatChunk {
	kind, a, b := op[0]%7, int(op[1]%3), op[2]
	d := openai.Delta{}
	var finish *string
	var usage *openai.Usage
	switch kind {
	case 0:
		d.Content = string(rune('a' + b%26))
	case 1:
		d.ReasoningText = "r"
	case 2:
		d.ReasoningOpaque = "o"
	case 3, 4:
		idx := int(b % 3)
		tc := openai.ToolCall{Index: &idx, Function: openai.FunctionCall{Arguments: string(rune('0' + b%10))}}
		if b&8 != 0 {
			tc.ID = "call_" + string(rune('a'+b%4))
		}
		if b&16 != 0 {
			tc.Function.Name = []string{"f", "ns__f", "g"}[a]
		}
		d.ToolCalls = []openai.ToolCall{tc}
	case 5:
		s := []string{"stop", "length", "tool_calls", "content_filter"}[b%4]
		finish = &s
	case 6:
		usage = &openai.Usage{PromptTokens: int64(b), CompletionTokens: 1, TotalTokens: int64(b) + 1}
	}
	return openai.ChatChunk{Choices: []openai.ChunkChoice{{Index: a, Delta: d, FinishReason: finish}}, Usage: usage}
}

// FuzzStreamFromChatOps: the contract holds for any interleaving of chunk
// contents (the first byte chooses Finish or Fail).
func FuzzStreamFromChatOps(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 1, 3, 1, 8, 4, 1, 24, 0, 0, 5, 5, 0, 2, 6, 0, 9})
	f.Add([]byte{1, 1, 0, 0, 2, 0, 0, 3, 1, 1, 4, 1, 25, 3, 2, 2, 0, 0, 0})
	req := &responses.Request{Model: "m", Include: []string{"reasoning.encrypted_content"},
		Tools: []responses.Tool{{Type: "namespace", Name: "ns", Tools: []responses.Tool{{Type: "function", Name: "f"}}}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		s := responses.NewStreamFromChat(req, "resp_o", 1)
		events := s.Start()
		for ops := data[1:]; len(ops) >= 3; ops = ops[3:] {
			c := chunkFromOps(ops[:3])
			events = append(events, s.Chunk(&c)...)
		}
		if data[0]%4 == 0 {
			events = append(events, s.Fail("cut", "")...)
		} else {
			events = append(events, s.Finish()...)
		}
		for _, ev := range events {
			if _, err := strictEvent(ev); err != nil {
				t.Fatalf("%s: %v\n%s", ev.Type, err, ev.Data)
			}
		}
		if err := checkContract(events); err != nil {
			t.Fatal(err)
		}
	})
}
