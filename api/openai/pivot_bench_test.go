package openai_test

// Benchmarks of the chat pivot's own encoding, which every translated path
// pays: a client's chat request decoded (chat to /responses) or a
// translated one encoded (to /chat/completions); per stream event an
// upstream chunk decoded (the gateway's decodeChunk) or a translated chunk
// encoded (Responses to chat); a non-stream answer decoded or encoded.
//
//	go test -run '^$' -bench . -benchmem ./api/openai

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// benchChunks are Copilot's chat stream events, as recorded: a content
// delta with its content filter members, a tool call's first delta and an
// argument fragment (Claude, split choices), and the usage chunk.
var benchChunks = []struct{ name, data string }{
	{"content_delta", `{"choices":[{"index":0,"delta":{"content":" has three Go files."},"finish_reason":null,"content_filter_offsets":{"check_offset":1208,"start_offset":1208,"end_offset":1230},"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}],"created":1764412345,"id":"chatcmpl-Cp1","model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_07e0d0ad7b"}`},
	{"tool_call_open", `{"choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"id":"toolu_vrtx_01A","type":"function","function":{"name":"shell","arguments":"and\":[\"ls\","}}]},"finish_reason":null}],"created":1764412345,"id":"chatcmpl-Cp1","model":"claude-sonnet-4.5","system_fingerprint":"fp_07e0d0ad7b"}`},
	{"tool_args_delta", `{"choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"-la\"]}"}}]},"finish_reason":null}],"created":1764412345,"id":"chatcmpl-Cp1","model":"claude-sonnet-4.5","system_fingerprint":"fp_07e0d0ad7b"}`},
	{"usage", `{"choices":[],"created":1764412345,"id":"chatcmpl-Cp1","model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_07e0d0ad7b","usage":{"completion_tokens":9,"completion_tokens_details":{"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":1523,"prompt_tokens_details":{"cached_tokens":1280},"total_tokens":1532}}`},
}

// benchChatAnswer is Claude's non-stream answer through Copilot: reasoning
// and text in one choice, two parallel tool calls in another.
const benchChatAnswer = `{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"content":"I'll read go.mod and search for the version pin.","role":"assistant","reasoning_text":"The user wants the Go version. go.mod has the go directive; the CI workflow may pin another version, so search for it too.","reasoning_opaque":"c2lnbmF0dXJlLTFfb3BhcXVlX3JlYXNvbmluZ19zdGF0ZQ=="}},{"finish_reason":"tool_calls","index":1,"message":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"command\":[\"cat\",\"go.mod\"],\"workdir\":\"/home/dev/project\"}","name":"shell"},"id":"toolu_vrtx_01A","type":"function"},{"function":{"arguments":"{\"query\":\"go-version\"}","name":"mcp__github__search_code"},"id":"toolu_vrtx_01B","type":"function"}]}}],"created":1764412345,"id":"chatcmpl-Cp9","model":"claude-sonnet-4.5","usage":{"completion_tokens":85,"completion_tokens_details":{"reasoning_tokens":40},"prompt_tokens":9140,"prompt_tokens_details":{"cached_tokens":8704},"total_tokens":9225}}`

// BenchmarkChatRequest: a chat request decoded (unknown members kept) and
// encoded. openai_sdk_tools is a chat request as the OpenAI SDK sends it
// for an agent turn (system prompt, a tool round trip with two parallel
// calls, a follow-up in parts, four function tools, streaming with usage;
// api/responses' benchmarks read it too); claude_code_pivot is Claude
// Code's ~80 KB request as api/anthropic.ToChat makes it.
func BenchmarkChatRequest(b *testing.B) {
	var bodies [2][]byte
	for i, path := range []string{"testdata/sdk_chat_request.json", "../anthropic/testdata/golden/claude_code_request.chat.json"} {
		var err error
		if bodies[i], err = os.ReadFile(filepath.FromSlash(path)); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"openai_sdk_tools", bodies[0]},
		{"claude_code_pivot", bodies[1]},
	} {
		b.Run(tc.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				var r openai.ChatRequest
				if err := json.Unmarshal(tc.body, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encode", func(b *testing.B) {
			var r openai.ChatRequest
			if err := json.Unmarshal(tc.body, &r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				if _, err := json.Marshal(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChatChunk: one stream event decoded and encoded.
func BenchmarkChatChunk(b *testing.B) {
	for _, tc := range benchChunks {
		data := []byte(tc.data)
		b.Run(tc.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var c openai.ChatChunk
				if err := json.Unmarshal(data, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encode", func(b *testing.B) {
			var c openai.ChatChunk
			if err := json.Unmarshal(data, &c); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(&c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChatResponse: a non-stream answer decoded and encoded.
func BenchmarkChatResponse(b *testing.B) {
	body := []byte(benchChatAnswer)
	b.Run("reasoning_tools/decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r openai.ChatResponse
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reasoning_tools/encode", func(b *testing.B) {
		var r openai.ChatResponse
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
