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

// benchSDKChatRequest is a chat request as the OpenAI SDK sends it for an
// agent turn: system prompt, a tool round trip with two parallel calls, a
// follow-up in parts, four function tools, streaming with usage.
const benchSDKChatRequest = `{"model":"gpt-5.1-codex","messages":[` +
	`{"role":"system","content":"You are a coding assistant working in the user's repository. Use the tools to read files and run commands; answer concisely and cite the files you used."},` +
	`{"role":"user","content":"Which Go version does this module need? Check go.mod and the CI workflow, and tell me whether they agree."},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_Q1a2b3","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"go.mod\"}"}},{"id":"call_Q1a2b4","type":"function","function":{"name":"read_file","arguments":"{\"path\":\".github/workflows/ci.yml\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_Q1a2b3","content":"module example.com/app\n\ngo 1.24\n\nrequire (\n\tgithub.com/rs/zerolog v1.34.0\n\tmodernc.org/sqlite v1.38.2\n)\n"},` +
	`{"role":"tool","tool_call_id":"call_Q1a2b4","content":"name: ci\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-go@v5\n        with:\n          go-version: '1.23'\n      - run: go test ./...\n"},` +
	`{"role":"assistant","content":"They disagree: go.mod asks for Go 1.24 but CI installs Go 1.23, so CI builds with toolchain download or fails."},` +
	`{"role":"user","content":[{"type":"text","text":"Fix the workflow and run the tests."}]}],` +
	`"tools":[` +
	`{"type":"function","function":{"name":"read_file","description":"Read a file of the repository.","parameters":{"type":"object","properties":{"path":{"type":"string","description":"Path relative to the repository root"},"start_line":{"type":"integer"},"end_line":{"type":"integer"}},"required":["path"],"additionalProperties":false}}},` +
	`{"type":"function","function":{"name":"write_file","description":"Write a file of the repository.","parameters":{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"],"additionalProperties":false},"strict":true}},` +
	`{"type":"function","function":{"name":"run_command","description":"Run a shell command in the repository and return its output.","parameters":{"type":"object","properties":{"command":{"type":"string"},"timeout_ms":{"type":"integer","minimum":1000,"maximum":600000}},"required":["command"]}}},` +
	`{"type":"function","function":{"name":"search_code","description":"Search the repository for a regular expression.","parameters":{"type":"object","properties":{"pattern":{"type":"string"},"glob":{"type":"string"},"case":{"type":"string","enum":["sensitive","insensitive","smart"]}},"required":["pattern"]}}}],` +
	`"tool_choice":"auto","parallel_tool_calls":true,"stream":true,"stream_options":{"include_usage":true},` +
	`"max_completion_tokens":8192,"reasoning_effort":"medium","user":"user-7f3a"}`

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
// encoded; claude_code_pivot is Claude Code's ~80 KB request as
// api/anthropic.ToChat makes it.
func BenchmarkChatRequest(b *testing.B) {
	pivot, err := os.ReadFile(filepath.FromSlash("../anthropic/testdata/golden/claude_code_request.chat.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"openai_sdk_tools", []byte(benchSDKChatRequest)},
		{"claude_code_pivot", pivot},
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
