package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWithIncludeUsage(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		name, in string
		exact    string // when set, the exact expected output
	}{
		{name: "insert keeps bytes", in: `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"x_unknown":{"a":1}}`,
			exact: `{"stream_options":{"include_usage":true},"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"x_unknown":{"a":1}}`},
		{name: "leading space", in: ` {"model":"m",` + msgs + `}`, exact: ` {"stream_options":{"include_usage":true},"model":"m",` + msgs + `}`},
		{name: "existing false", in: `{"model":"m",` + msgs + `,"stream_options":{"include_usage":false,"other":1}}`},
		{name: "existing without field", in: `{"model":"m",` + msgs + `,"stream_options":{}}`},
		{name: "null options", in: `{"model":"m",` + msgs + `,"stream_options":null}`},
		// A key spelled with an escape is still stream_options to a JSON
		// parser: it must be rewritten, never left beside an inserted one.
		{name: "escaped key", in: `{"model":"m",` + msgs + `,"stream\u005foptions":{"include_usage":false}}`},
		// The words inside a string are not a key: the cheap insertion.
		{name: "key-like text in content", in: `{"model":"m","messages":[{"role":"user","content":"\"stream_options\":{}"}]}`,
			exact: `{"stream_options":{"include_usage":true},"model":"m","messages":[{"role":"user","content":"\"stream_options\":{}"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, e := ParseChatRequest([]byte(tt.in))
			if e != nil {
				t.Fatal(e)
			}
			out, err := req.WithIncludeUsage([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if tt.exact != "" && string(out) != tt.exact {
				t.Fatalf("got %s\nwant %s", out, tt.exact)
			}
			var v struct {
				Model         string                     `json:"model"`
				StreamOptions map[string]json.RawMessage `json:"stream_options"`
			}
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("output is not JSON: %s", out)
			}
			if v.Model != "m" || string(v.StreamOptions["include_usage"]) != "true" {
				t.Fatalf("include_usage not set: %s", out)
			}
			if strings.Contains(tt.in, `"other":1`) && string(v.StreamOptions["other"]) != "1" {
				t.Fatalf("other stream option lost: %s", out)
			}
			if again, e := ParseChatRequest(out); e != nil || !again.IncludeUsage {
				t.Fatalf("the rewritten body does not parse as asking for usage: %s (%v)", out, e)
			}
		})
	}
	if _, err := rewriteIncludeUsage([]byte(`[1]`)); err == nil {
		t.Fatal("a non-object body must fail")
	}
}

func TestIsUsageOnlyChunk(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`: true,
		`{"id":"x","choices": [ ],"usage":{"prompt_tokens":1}}`:                                      true,
		`{"id":"x","usage":{"prompt_tokens":1}}`:                                                     true,
		`{"choices":[],"prompt_filter_results":[{"prompt_index":0}]}`:                                false,
		`{"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":1}}`:             false,
		`{"choices":[{"index":0,"delta":{"content":"\"usage\":{}"}}]}`:                               false,
		`{"choices":[],"usage":null}`:                                                                false,
		`not json`:                                                                                   false,
	} {
		if got := IsUsageOnlyChunk([]byte(in)); got != want {
			t.Errorf("IsUsageOnlyChunk(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestTailUsage(t *testing.T) {
	t.Parallel()
	full := `{"id":"c","choices":[{"message":{"content":"the word \"usage\": {\"x\":1} inside"}}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
	u, ok := TailUsage([]byte(full))
	if !ok || u.PromptTokens != 11 || u.CompletionTokens != 7 || u.TotalTokens != 18 {
		t.Fatalf("got %+v %v", u, ok)
	}
	// Only the tail is available.
	u, ok = TailUsage([]byte(full[len(full)-80:]))
	if !ok || u.CompletionTokens != 7 {
		t.Fatalf("tail: got %+v %v", u, ok)
	}
	for _, in := range []string{`{"choices":[]}`, `"usage":{"prompt_tok`, ``, `{"usage":null}`} {
		if _, ok := TailUsage([]byte(in)); ok {
			t.Errorf("TailUsage(%q) found usage", in)
		}
	}
}
