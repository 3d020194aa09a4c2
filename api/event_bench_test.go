package api_test

// Benchmarks of what the stream relay reads from, and writes for, each
// event besides the bytes themselves: the reported-cost check every event
// gets, the cost and usage-only checks of the events that carry them, and
// the final error event of a broken stream in each dialect.
//
//	go test -run '^$' -bench . -benchmem ./api

import (
	"net/http"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Copilot's chat stream events, as recorded (the cost one as Copilot adds
// copilot_usage to the last chunk).
var (
	benchContentChunk = []byte(`{"choices":[{"index":0,"delta":{"content":" has three Go files."},"finish_reason":null,"content_filter_offsets":{"check_offset":1208,"start_offset":1208,"end_offset":1230},"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}],"created":1764412345,"id":"chatcmpl-Cp1","model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_07e0d0ad7b"}`)
	benchUsageChunk   = []byte(`{"choices":[],"created":1764412345,"id":"chatcmpl-Cp1","model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_07e0d0ad7b","usage":{"completion_tokens":9,"completion_tokens_details":{"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":1523,"prompt_tokens_details":{"cached_tokens":1280},"total_tokens":1532}}`)
	benchCostChunk    = []byte(`{"choices":[],"created":1764412345,"id":"chatcmpl-Cp1","model":"gpt-4.1-2025-04-14","usage":{"completion_tokens":9,"prompt_tokens":1523,"prompt_tokens_details":{"cached_tokens":1280},"total_tokens":1532},"copilot_usage":{"total_nano_aiu":1250000}}`)
	// A content chunk whose choices are split: only decoding tells it from a
	// usage-only chunk.
	benchSplitUsageChunk = []byte(`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"created":1764412345,"id":"chatcmpl-Cp1","model":"claude-sonnet-4.5","usage":{"completion_tokens":85,"prompt_tokens":9140,"total_tokens":9225}}`)
)

// BenchmarkEventCost: the cost check of every relayed event (HasCost), and
// the read of the event that carries one.
func BenchmarkEventCost(b *testing.B) {
	b.Run("has_cost/content_chunk", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchContentChunk)))
		for b.Loop() {
			if api.HasCost(benchContentChunk) {
				b.Fatal("cost in a content chunk")
			}
		}
	})
	b.Run("reported_cost/cost_chunk", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchCostChunk)))
		for b.Loop() {
			if _, ok := api.ReportedCost(benchCostChunk); !ok {
				b.Fatal("no cost")
			}
		}
	})
}

// BenchmarkIsUsageOnlyChunk: the check of a usage chunk the gateway asked
// for on the client's behalf (withheld when it has no choices).
func BenchmarkIsUsageOnlyChunk(b *testing.B) {
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"usage_only", benchUsageChunk, true},
		{"usage_with_choice", benchSplitUsageChunk, false},
		{"content_chunk", benchContentChunk, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.data)))
			for b.Loop() {
				if api.IsUsageOnlyChunk(tc.data) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// BenchmarkStreamErrorEvent: the final event of a broken stream, in the
// chat dialect and in the Messages one.
func BenchmarkStreamErrorEvent(b *testing.B) {
	e := api.UpstreamError(http.StatusServiceUnavailable, http.Header{}, []byte(`{"error":{"message":"upstream stream broke: unexpected EOF","type":"server_error","code":"upstream_error"}}`))
	b.Run("chat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(api.ErrorEvent(e)) == 0 {
				b.Fatal("empty")
			}
		}
	})
	b.Run("messages", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(api.AnthropicErrorEvent(e)) == 0 {
				b.Fatal("empty")
			}
		}
	})
}
