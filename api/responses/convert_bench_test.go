package responses_test

// Benchmarks of every converter between the Responses API and the chat
// pivot, on the shapes real clients send: Codex CLI's first turn (developer
// and user items, ten function tools, a namespace group, web_search,
// reasoning summary and encrypted content asked for) and its tool round
// trip (reasoning items, function calls and outputs), the OpenAI SDK's chat
// request with tools and tool results, and Claude Code's ~80 KB request as
// the Messages converter hands it on (its chat pivot) for a model Copilot
// serves only at /responses.
//
// Each request and non-stream answer converter has two cases: "convert"
// is the converter alone on decoded values, "wire" the whole step the
// gateway takes (decode the bytes, convert, encode for the other side).
// Stream converters run per upstream event: each op feeds the next event of
// a recorded stream, Start and Finish included with the first and last
// event; events/op is the events sent to the client per upstream event.
//
//	go test -run '^$' -bench . -benchmem ./api/responses

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

// benchChatAnswers are non-stream chat answers as Copilot gives them: an
// OpenAI model's text answer with its content filter results, and Claude's
// answer split over two choices (reasoning and text in one, the parallel
// tool calls in the other, one of them a namespaced MCP tool).
var benchChatAnswers = []struct{ name, body string }{
	{"text", `{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"finish_reason":"stop","index":0,"message":{"content":"The repository has three Go files: main.go starts the HTTP server on :8080 and wires the routes, handlers.go implements the JSON handlers for /items, and store.go wraps the SQLite database with a small repository type.","role":"assistant"}}],"created":1764412345,"id":"chatcmpl-Cp1","model":"gpt-4.1-2025-04-14","prompt_filter_results":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"prompt_index":0}],"system_fingerprint":"fp_07e0d0ad7b","usage":{"completion_tokens":52,"completion_tokens_details":{"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":1523,"prompt_tokens_details":{"cached_tokens":1280},"total_tokens":1575}}`},
	{"reasoning_tools", `{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"content":"I'll read go.mod and search for the version pin.","role":"assistant","reasoning_text":"The user wants the Go version. go.mod has the go directive; the CI workflow may pin another version, so search for it too.","reasoning_opaque":"c2lnbmF0dXJlLTFfb3BhcXVlX3JlYXNvbmluZ19zdGF0ZQ=="}},{"finish_reason":"tool_calls","index":1,"message":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"command\":[\"cat\",\"go.mod\"],\"workdir\":\"/home/dev/project\"}","name":"shell"},"id":"toolu_vrtx_01A","type":"function"},{"function":{"arguments":"{\"query\":\"go-version\"}","name":"mcp__github__search_code"},"id":"toolu_vrtx_01B","type":"function"}]}}],"created":1764412345,"id":"chatcmpl-Cp9","model":"claude-sonnet-4.5","usage":{"completion_tokens":85,"completion_tokens_details":{"reasoning_tokens":40},"prompt_tokens":9140,"prompt_tokens_details":{"cached_tokens":8704},"total_tokens":9225}}`},
}

// benchRequests are the Responses requests of Codex CLI.
var benchRequests = []struct{ name, file string }{
	{"codex_first_turn", "codex_request.json"},
	{"codex_tool_roundtrip", "codex_function_roundtrip.json"},
}

// benchChatRequests are chat pivots FromChat takes: an SDK client's, and
// Claude Code's as api/anthropic.ToChat makes it.
var benchChatRequests = []struct {
	name string
	body func(*testing.B) []byte
}{
	{"openai_sdk_tools", func(b *testing.B) []byte {
		return readFile(b, "../../openai/testdata/sdk_chat_request.json")
	}},
	{"claude_code_pivot", func(b *testing.B) []byte {
		return readFile(b, "../../anthropic/testdata/golden/claude_code_request.chat.json")
	}},
}

func benchParse(b *testing.B, body []byte) *responses.Request {
	b.Helper()
	req, e := responses.ParseRequest(body)
	if e != nil {
		b.Fatal(e)
	}
	return req
}

// benchSame fails unless two runs of a converter encode the same: a
// converter that changed its input would make later iterations measure
// something else.
func benchSame(b *testing.B, run func() any) {
	b.Helper()
	first, err := json.Marshal(run())
	if err != nil {
		b.Fatal(err)
	}
	second, err := json.Marshal(run())
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		b.Fatal("the converter changed its input")
	}
}

// BenchmarkRequestToChat: a Responses request to the chat pivot, for a
// model Copilot serves only at /chat/completions (Codex CLI with Claude).
func BenchmarkRequestToChat(b *testing.B) {
	for _, tc := range benchRequests {
		body := readFile(b, tc.file)
		b.Run(tc.name+"/convert", func(b *testing.B) {
			req := benchParse(b, body)
			benchSame(b, func() any { c, _, _ := responses.ToChat(req); return c })
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := responses.ToChat(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/wire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req, e := responses.ParseRequest(body)
				if e != nil {
					b.Fatal(e)
				}
				chat, _, err := responses.ToChat(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := chat.MarshalJSON(); err != nil { // as the gateway encodes it
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRequestFromChat: the chat pivot to a Responses request, for a
// model Copilot serves only at /responses (chat clients and Claude Code
// with a *-codex model).
func BenchmarkRequestFromChat(b *testing.B) {
	for _, tc := range benchChatRequests {
		body := tc.body(b)
		b.Run(tc.name+"/convert", func(b *testing.B) {
			var chat openai.ChatRequest
			if err := json.Unmarshal(body, &chat); err != nil {
				b.Fatal(err)
			}
			benchSame(b, func() any { r, _ := responses.FromChat(&chat); return r })
			b.ReportAllocs()
			for b.Loop() {
				if _, err := responses.FromChat(&chat); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/wire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var chat openai.ChatRequest
				if err := json.Unmarshal(body, &chat); err != nil {
					b.Fatal(err)
				}
				r, err := responses.FromChat(&chat)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResponseFromChat: a non-stream chat answer to a Responses
// answer (Codex CLI's request was translated to chat).
func BenchmarkResponseFromChat(b *testing.B) {
	req := benchParse(b, readFile(b, "codex_request.json"))
	for _, tc := range benchChatAnswers {
		body := []byte(tc.body)
		b.Run(tc.name+"/convert", func(b *testing.B) {
			var chat openai.ChatResponse
			if err := json.Unmarshal(body, &chat); err != nil {
				b.Fatal(err)
			}
			benchSame(b, func() any { return responses.FromChatResponse(&chat, req, "resp_bench", 1764412345) })
			b.ReportAllocs()
			for b.Loop() {
				if r := responses.FromChatResponse(&chat, req, "resp_bench", 1764412345); len(r.Output) == 0 {
					b.Fatal("no output")
				}
			}
		})
		b.Run(tc.name+"/wire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var chat openai.ChatResponse
				if err := json.Unmarshal(body, &chat); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(responses.FromChatResponse(&chat, req, "resp_bench", 1764412345)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResponseToChat: a non-stream Responses answer (reasoning, text
// and a function call) to a chat answer, for a chat client of a *-codex
// model.
func BenchmarkResponseToChat(b *testing.B) {
	body := readFile(b, "responses_body.json")
	b.Run("codex_reasoning_tool/convert", func(b *testing.B) {
		var r responses.Response
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
		benchSame(b, func() any { return responses.ToChatResponse(&r) })
		b.ReportAllocs()
		for b.Loop() {
			if c := responses.ToChatResponse(&r); len(c.Choices) == 0 {
				b.Fatal("no choice")
			}
		}
	})
	b.Run("codex_reasoning_tool/wire", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r responses.Response
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(responses.ToChatResponse(&r)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchChatStream is a recorded chat stream (under testdata/) as
// StreamFromChat is fed it: each chunk decoded, nil for data: [DONE].
func benchChatStream(b *testing.B, name string) (ops []*openai.ChatChunk, size int) {
	b.Helper()
	chunks, done := chatChunks(b, name)
	if !done {
		b.Fatalf("%s: no data: [DONE] at the end", name)
	}
	return append(chunks, nil), len(readFile(b, name))
}

// BenchmarkStreamFromChatPerEvent: one upstream chat event into Responses
// events (Codex CLI on a chat-only model). An op is one chunk, or [DONE]
// (Finish); the first op of each stream also starts it.
func BenchmarkStreamFromChatPerEvent(b *testing.B) {
	req := benchParse(b, readFile(b, "codex_request.json"))
	for _, tc := range []struct{ name, file string }{
		{"text", "chat_text.sse"},
		{"reasoning_tool", "chat_reasoning.sse"},
		{"split_tools", "chat_split_tools.sse"},
		{"length", "chat_length.sse"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ops, size := benchChatStream(b, tc.file)
			var s *responses.StreamFromChat
			next, out := 0, 0
			b.ReportAllocs()
			b.SetBytes(int64(size / len(ops)))
			for b.Loop() {
				if next == 0 {
					s = responses.NewStreamFromChat(req, "resp_bench", 1764412345)
					out += len(s.Start())
				}
				if c := ops[next]; c != nil {
					out += len(s.Chunk(c))
				} else {
					out += len(s.Finish())
				}
				if next++; next == len(ops) {
					next = 0
				}
			}
			b.ReportMetric(float64(out)/float64(b.N), "events/op")
		})
	}
}

// BenchmarkStreamToChatPerEvent: one upstream Responses event into chat
// chunks (a chat client on a *-codex model). The recording has reasoning
// summary deltas, text deltas and a function call's argument deltas.
func BenchmarkStreamToChatPerEvent(b *testing.B) {
	raw := readFile(b, "responses_stream.sse")
	type event struct {
		typ  string
		data []byte
	}
	var evs []event
	for _, block := range bytes.Split(raw, []byte("\n\n")) {
		var ev event
		for _, line := range bytes.Split(block, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
				ev.typ = string(v)
			} else if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				ev.data = v
			}
		}
		if ev.data != nil {
			evs = append(evs, ev)
		}
	}
	b.Run("codex_reasoning_tool", func(b *testing.B) {
		var s *responses.StreamToChat
		next, out := 0, 0
		b.ReportAllocs()
		b.SetBytes(int64(len(raw) / len(evs)))
		for b.Loop() {
			if next == 0 {
				s = responses.NewStreamToChat("gpt-5-codex")
			}
			chunks, err := s.Event(evs[next].typ, evs[next].data)
			if err != nil {
				b.Fatal(err)
			}
			out += len(chunks)
			if next++; next == len(evs) {
				if !s.Done() {
					b.Fatal("the stream did not end")
				}
				next = 0
			}
		}
		b.ReportMetric(float64(out)/float64(b.N), "chunks/op")
	})
}

// BenchmarkPeekRequest: what the native /responses path reads of a body
// (model, stream, initiator, images) before passing it on as bytes.
func BenchmarkPeekRequest(b *testing.B) {
	for _, tc := range benchRequests {
		body := readFile(b, tc.file)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, e := responses.PeekRequest(body); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// BenchmarkStreamFromChatStartFinish: what a translated Responses stream
// costs besides its deltas: response.created and response.in_progress at
// the start and response.completed at the end, each carrying the response
// object (with the request's tools), for Codex CLI's first turn.
func BenchmarkStreamFromChatStartFinish(b *testing.B) {
	req := benchParse(b, readFile(b, "codex_request.json"))
	b.ReportAllocs()
	for b.Loop() {
		s := responses.NewStreamFromChat(req, "resp_bench", 1764412345)
		if len(s.Start()) == 0 || len(s.Finish()) == 0 {
			b.Fatal("no event")
		}
	}
}

// BenchmarkStreamFromChatTextDelta: one content chunk of a long answer into
// its response.output_text.delta, the common event of a stream.
func BenchmarkStreamFromChatTextDelta(b *testing.B) {
	req := benchParse(b, readFile(b, "codex_request.json"))
	ops, _ := benchChatStream(b, "chat_text.sse")
	s := responses.NewStreamFromChat(req, "resp_bench", 1764412345)
	s.Start()
	s.Chunk(ops[0]) // prompt filter results
	s.Chunk(ops[1]) // role
	delta := ops[2] // "The repository"
	s.Chunk(delta)  // opens the message item
	b.ReportAllocs()
	for b.Loop() {
		if len(s.Chunk(delta)) != 1 {
			b.Fatal("not one event")
		}
	}
}

// BenchmarkStreamToChatTextDelta: one response.output_text.delta of a long
// answer into its chat chunk.
func BenchmarkStreamToChatTextDelta(b *testing.B) {
	raw := readFile(b, "responses_stream.sse")
	s := responses.NewStreamToChat("gpt-5-codex")
	var delta []byte
	for _, block := range bytes.Split(raw, []byte("\n\n")) {
		typ, data, _ := bytes.Cut(block, []byte("\ndata: "))
		typ = bytes.TrimPrefix(typ, []byte("event: "))
		if string(typ) == responses.EventTextDelta {
			delta = data
			break
		}
		if _, err := s.Event(string(typ), data); err != nil {
			b.Fatal(err)
		}
	}
	if delta == nil {
		b.Fatal("no output_text.delta in the recording")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(delta)))
	for b.Loop() {
		if chunks, err := s.Event(responses.EventTextDelta, delta); err != nil || len(chunks) != 1 {
			b.Fatal(len(chunks), err)
		}
	}
}
