package anthropic_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// FuzzParseRequest: no body may panic the parser, the converter or the
// counter; a rejection is a 4xx with a message; an accepted body converts to
// chat JSON (or a 4xx), and PeekRequest reads the same model and stream.
// Seeds: the request fixtures and testdata/fuzz/FuzzParseRequest.
func FuzzParseRequest(f *testing.F) {
	for _, name := range []string{"claude_code_request.json", "tool_conversation.json", "image_request.json"} {
		f.Add(fixture(f, name))
	}
	for _, s := range []string{
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"claude-opus-4-6[1m]","max_tokens":1,"stream":true,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":{"type":"text","text":"x"}}]}]}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}],"tools":[{"name":"b"}],"tool_choice":{"type":"tool","name":"b"}}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi8="}}]}]}`,
		`{"model":"m","MAX_TOKENS":1}`, `{}`, `null`, `[]`, `{"model":"m","max_tokens":1,"messages":[null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := anthropic.ParseRequest(body)
		if e != nil {
			if e.Message == "" || e.HTTPStatus() < 400 || e.HTTPStatus() > 499 {
				t.Fatalf("rejection without a message or a 4xx status: %+v", e)
			}
			return
		}
		p, e := anthropic.PeekRequest(body)
		if e != nil || p.Model != req.Model || p.Stream != req.Stream || p.MaxTokens != req.MaxTokens {
			t.Fatalf("PeekRequest disagrees: %+v %v vs %q %v %d", p, e, req.Model, req.Stream, req.MaxTokens)
		}
		if n := (anthropic.TokenCounter{Encoder: anthropic.EstimateEncoder{}}).Count(req); n < 0 {
			t.Fatalf("negative count %d", n)
		}
		anthropic.CanonicalModel(req.Model, copilotModels)
		chat, _, err := anthropic.ToChat(req)
		if err != nil {
			return
		}
		out, err := json.Marshal(chat)
		if err != nil || !json.Valid(out) || len(chat.Messages) == 0 {
			t.Fatalf("ToChat made an unusable body: %v %s", err, out)
		}
	})
}

// FuzzStreamFromChat: any sequence of chunks (one JSON per line; lines that
// do not decode are skipped) ends as a well-formed Messages stream: the
// grammar holds, every text fragment arrives once and in order, and a tool
// block's input is never more than what the upstream sent. The first byte
// chooses between a clean end ([DONE]) and a cut stream (Fail).
// Seeds: the recorded streams under testdata/streams.
func FuzzStreamFromChat(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	for _, name := range files {
		sse, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(sse), "\n") {
			if d, ok := strings.CutPrefix(l, "data: {"); ok {
				lines = append(lines, "{"+d)
			}
		}
		f.Add([]byte("d" + strings.Join(lines, "\n")))
	}
	f.Add([]byte(`c{"choices":[{"index":2,"delta":{"tool_calls":[{"function":{"arguments":"{"}},{"index":0,"id":"x","function":{"name":"n"}}]},"finish_reason":"tool_calls"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		s := anthropic.NewStreamFromChat("msg_f", "m")
		events := s.Start()
		var text, args strings.Builder
		for _, line := range bytes.Split(data[1:], []byte("\n")) {
			var c openai.ChatChunk
			if json.Unmarshal(line, &c) != nil {
				continue
			}
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content + ch.Delta.Refusal)
				for _, tc := range ch.Delta.ToolCalls {
					args.WriteString(tc.Function.Arguments)
				}
			}
			events = append(events, s.Chunk(&c)...)
		}
		if data[0]%2 == 0 {
			events = append(events, s.Finish()...)
		} else {
			events = append(events, s.Fail(anthropic.ErrAPI, "cut")...)
		}
		got, err := checkEvents(events)
		if err != nil {
			t.Fatalf("%v\n%s", err, sseText(events))
		}
		var gotText, gotArgs strings.Builder
		for i, b := range got.blocks {
			gotText.WriteString(b.Text)
			gotArgs.WriteString(got.partial[i])
		}
		if !got.failed && gotText.String() != text.String() {
			t.Fatalf("text %q, upstream sent %q", gotText.String(), text.String())
		}
		if !got.failed && gotArgs.Len() > args.Len() {
			t.Fatalf("tool input %q longer than the arguments sent %q", gotArgs.String(), args.String())
		}
	})
}
