package anthropic_test

// Benchmarks of every converter between the Messages API and the chat
// pivot, on what Claude Code sends: its ~80 KB request (system blocks with
// cache_control, 25 tools, thinking, tool_use and tool_result turns) and a
// short tool conversation (a system string, tool_choice, stop sequences, a
// server tool), and Copilot's answers and streams for them.
//
// Request and non-stream answer converters have a "convert" case (the
// converter alone on decoded values) and "wire" cases (the gateway's whole
// step: decode, convert, encode; "wire_via_responses" adds the hop through
// the Responses API for a model Copilot serves only at /responses). The
// stream converter runs per upstream event: each op feeds the next event of
// a recorded chat stream, Start and Finish included with the first and last
// event; events/op is the events sent to the client per upstream event.
//
//	go test -run '^$' -bench . -benchmem ./api/anthropic

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

func benchParse(b *testing.B, body []byte) *anthropic.Request {
	b.Helper()
	req, e := anthropic.ParseRequest(body)
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

var benchRequests = []struct{ name, file string }{
	{"claude_code", "claude_code_request.json"},
	{"tool_conversation", "tool_conversation.json"},
}

// BenchmarkRequestToChat: a Messages request to the chat pivot (Claude Code
// on a model Copilot does not serve at /v1/messages).
func BenchmarkRequestToChat(b *testing.B) {
	for _, tc := range benchRequests {
		body := fixture(b, tc.file)
		b.Run(tc.name+"/convert", func(b *testing.B) {
			req := benchParse(b, body)
			benchSame(b, func() any { c, _, _ := anthropic.ToChat(req); return c })
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := anthropic.ToChat(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/wire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				chat, _, err := anthropic.ToChat(benchParse(b, body))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(chat); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/wire_via_responses", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				chat, _, err := anthropic.ToChat(benchParse(b, body))
				if err != nil {
					b.Fatal(err)
				}
				r, err := responses.FromChat(chat)
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

// benchChatAnswers are non-stream chat answers as Copilot gives them to a
// translated Claude Code request: an OpenAI model's text answer with its
// content filter results, and Claude's answer split over two choices (text
// in one, two parallel tool calls in the other).
var benchChatAnswers = []struct{ name, body string }{
	{"text", `{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"finish_reason":"stop","index":0,"message":{"content":"The handler reads the body twice: once in the logging middleware and again in decodeItem, so the second read sees EOF. Buffer it once in the middleware and restore r.Body with io.NopCloser(bytes.NewReader(buf)).","role":"assistant"}}],"created":1764930100,"id":"chatcmpl-Cq7","model":"gpt-4.1-2025-04-14","prompt_filter_results":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"prompt_index":0}],"system_fingerprint":"fp_07e0d0ad7b","usage":{"completion_tokens":61,"completion_tokens_details":{"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":20311,"prompt_tokens_details":{"cached_tokens":19968},"total_tokens":20372}}`},
	{"split_tools", `{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"content":"I'll read the handler and run its tests.","role":"assistant"}},{"finish_reason":"tool_calls","index":1,"message":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"file_path\":\"/home/dev/project/handlers.go\"}","name":"Read"},"id":"toolu_vrtx_01Rd","type":"function"},{"function":{"arguments":"{\"command\":\"go test ./... -run TestDecodeItem\",\"description\":\"Run the handler tests\",\"timeout\":120000}","name":"Bash"},"id":"toolu_vrtx_01Bs","type":"function"}]}}],"created":1764930100,"id":"msg_vrtx_01Hq","model":"claude-sonnet-4.5","usage":{"completion_tokens":112,"prompt_tokens":20311,"prompt_tokens_details":{"cached_tokens":19968},"total_tokens":20423}}`},
}

// BenchmarkResponseFromChat: a non-stream chat answer to a Message (Claude
// Code's request was translated to chat). "codex_answer" is a Responses
// answer (reasoning, text, a function call) on the way through
// responses.ToChatResponse, for a model served only at /responses.
func BenchmarkResponseFromChat(b *testing.B) {
	for _, tc := range benchChatAnswers {
		body := []byte(tc.body)
		b.Run(tc.name+"/convert", func(b *testing.B) {
			var chat openai.ChatResponse
			if err := json.Unmarshal(body, &chat); err != nil {
				b.Fatal(err)
			}
			benchSame(b, func() any { return anthropic.FromChatResponse(&chat, "claude-sonnet-4-5-20250929", "msg_bench") })
			b.ReportAllocs()
			for b.Loop() {
				if m := anthropic.FromChatResponse(&chat, "claude-sonnet-4-5-20250929", "msg_bench"); len(m.Content) == 0 {
					b.Fatal("no content")
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
				if _, err := anthropic.MarshalMessage(anthropic.FromChatResponse(&chat, "claude-sonnet-4-5-20250929", "msg_bench")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	body := fixture(b, "../../responses/testdata/responses_body.json")
	b.Run("codex_answer/wire_via_responses", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r responses.Response
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
			if _, err := anthropic.MarshalMessage(anthropic.FromChatResponse(responses.ToChatResponse(&r), "gpt-5-codex", "msg_bench")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchChatStream is a recorded chat stream (under testdata/) as
// StreamFromChat is fed it: each chunk decoded, nil for data: [DONE].
func benchChatStream(b *testing.B, name string) (ops []*openai.ChatChunk, size int) {
	b.Helper()
	raw := fixture(b, name)
	chunks, done := chatChunks(b, raw)
	if !done {
		b.Fatalf("%s: no data: [DONE] at the end", name)
	}
	return append(chunks, nil), len(raw)
}

// BenchmarkStreamFromChatPerEvent: one upstream chat event into Messages
// events (Claude Code on a model translated through chat). An op is one
// chunk, or [DONE] (Finish); the first op of each stream also starts it.
func BenchmarkStreamFromChatPerEvent(b *testing.B) {
	for _, tc := range []struct{ name, file string }{
		{"text", "streams/text.sse"},
		{"parallel_tools", "streams/parallel_tools.sse"},
		{"split_choices", "streams/split_choices.sse"},
		{"length", "streams/length.sse"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ops, size := benchChatStream(b, tc.file)
			var s *anthropic.StreamFromChat
			next, out := 0, 0
			b.ReportAllocs()
			b.SetBytes(int64(size / len(ops)))
			for b.Loop() {
				if next == 0 {
					s = anthropic.NewStreamFromChat("msg_bench", "claude-sonnet-4-5-20250929")
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

// BenchmarkStreamFromChatStartFinish: what a translated Messages stream
// costs besides its deltas: message_start, and message_delta and
// message_stop at the end.
func BenchmarkStreamFromChatStartFinish(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s := anthropic.NewStreamFromChat("msg_bench", "claude-sonnet-4-5-20250929")
		if len(s.Start()) == 0 || len(s.Finish()) == 0 {
			b.Fatal("no event")
		}
	}
}

// BenchmarkStreamFromChatToolArgsDelta: one argument fragment of an open
// tool call into its input_json_delta, the common event of a long
// tool_use block (an Edit or Write call streams its content so).
func BenchmarkStreamFromChatToolArgsDelta(b *testing.B) {
	var open, frag openai.ChatChunk
	if err := json.Unmarshal([]byte(`{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"toolu_vrtx_01Wr","type":"function","function":{"name":"Write","arguments":""}}]}}],"created":1764930100,"id":"msg_vrtx_01Hq","model":"claude-sonnet-4.5"}`), &open); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\tif err := json.NewDecoder(r.Body).Decode(&item); err != nil {\\n"}}]}}],"created":1764930100,"id":"msg_vrtx_01Hq","model":"claude-sonnet-4.5"}`), &frag); err != nil {
		b.Fatal(err)
	}
	s := anthropic.NewStreamFromChat("msg_bench", "claude-sonnet-4-5-20250929")
	s.Start()
	s.Chunk(&open)
	s.Chunk(&frag)
	b.ReportAllocs()
	for b.Loop() {
		if len(s.Chunk(&frag)) != 1 {
			b.Fatal("not one event")
		}
	}
}

// BenchmarkEventSSE: encoding one converted event for the client.
func BenchmarkEventSSE(b *testing.B) {
	var c openai.ChatChunk
	if err := json.Unmarshal([]byte(`{"choices":[{"index":0,"delta":{"content":"Some streamed text of a usual length."}}],"id":"x","model":"m"}`), &c); err != nil {
		b.Fatal(err)
	}
	s := anthropic.NewStreamFromChat("msg_bench", "claude-sonnet-4-5-20250929")
	s.Start()
	s.Chunk(&c)
	evs := s.Chunk(&c)
	if len(evs) != 1 {
		b.Fatalf("%d events", len(evs))
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(evs[0].SSE()) == 0 {
			b.Fatal("empty")
		}
	}
}
