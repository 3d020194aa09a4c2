package api_test

import (
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// FuzzParseChatRequest: the fields the gateway reads from a chat body. No
// input may panic; an accepted body keeps its meaning through
// WithIncludeUsage, which must produce valid JSON asking for usage.
// Seeds: testdata/fuzz/FuzzParseChatRequest and the f.Add calls.
func FuzzParseChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"assistant","content":"x"},{"role":"tool","content":"y"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:,"}}]}],"stream":true}`,
		`{"model":"m","messages":[],"stream":true,"stream_options":null}`,
		`{"model":"m","messages":"no"}`, `[]`, `null`, `{"model":1}`, `{"model":"m","messages":[{"role":"user"}],"model":"n"}`,
		"{\"model\":\"\\u0000\",\"messages\":[{}]}", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := api.ParseChatRequest(body)
		if e != nil {
			if e.Message == "" || e.HTTPStatus() < 400 || e.HTTPStatus() > 499 {
				t.Fatalf("rejection without a message or a 4xx status: %+v", e)
			}
			return
		}
		switch req.Initiator() {
		case "user", "agent":
		default:
			t.Fatalf("initiator %q", req.Initiator())
		}
		if !req.Stream {
			return
		}
		out, err := req.WithIncludeUsage(body)
		if err != nil {
			return // the gateway then forwards the body untouched
		}
		if !json.Valid(out) {
			t.Fatalf("WithIncludeUsage made invalid JSON: %q -> %q", body, out)
		}
		again, e := api.ParseChatRequest(out)
		if e != nil || again.Model != req.Model || !again.Stream || !again.IncludeUsage || again.HasImage != req.HasImage {
			t.Fatalf("WithIncludeUsage changed the request: %q -> %q (%+v, %v)", body, out, again, e)
		}
	})
}

// FuzzUsage: usage extraction from stream chunks and non-stream tails. No
// input may panic, and counts are never negative.
func FuzzUsage(f *testing.F) {
	for _, s := range []string{
		`{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}`,
		`{"id":"x","choices":[{"index":0,"delta":{"content":"usage"}}]}`,
		`{"usage":null}`, `{"usage":{"prompt_tokens":-1}}`, `{"usage":{"prompt_tokens":1e99}}`,
		`"usage"`, `{"choices":[{}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
		`... "total_tokens":18}, "usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
		`{"usage":{"prompt_tokens":"11"}}`, `{"usage":{"prompt_tokens":11`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if u, ok := api.ChunkUsage(data); ok && (u.PromptTokens < 0 || u.CompletionTokens < 0) {
			t.Fatalf("negative usage %+v from %q", u, data)
		}
		api.IsUsageOnlyChunk(data)
		if u, ok := api.TailUsage(data); ok && (u.PromptTokens < 0 || u.CompletionTokens < 0) {
			t.Fatalf("negative tail usage %+v from %q", u, data)
		}
	})
}

// TestParseChatRequestExactKeys: the fields the gateway reads are read as
// Copilot reads them, so a differently-cased or repeated key cannot make the
// gateway check one model (or bill one initiator) while Copilot serves
// another.
func TestParseChatRequestExactKeys(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"model":"claude-x","MODEL":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"claude-x","model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"Messages":[{"role":"tool","content":"x"}]}`,
		`{"model":"m","stream":true,"Stream":false,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false,"Include_Usage":true},"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","ROLE":"tool","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi","role":"tool"}]}`,
	} {
		if _, e := api.ParseChatRequest([]byte(body)); e == nil || e.HTTPStatus() != 400 {
			t.Errorf("%s: accepted (%v)", body, e)
		}
	}
	// Escaped spellings are the same key for every JSON reader: fine.
	if r, e := api.ParseChatRequest([]byte(`{"mod\u0065l":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)); e != nil || r.Model != "gpt-4o" {
		t.Fatalf("escaped key: %+v %v", r, e)
	}
}
