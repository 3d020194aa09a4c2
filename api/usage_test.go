package api_test

import (
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

func TestChunkUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		ok   bool
		want api.Usage
	}{
		{"usage chunk without choices", `{"id":"x","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`,
			true, api.Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}},
		{"usage with details", `{"usage":{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}`,
			true, api.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		{"spaces around colon", `{"usage" : {"prompt_tokens":1}}`, true, api.Usage{PromptTokens: 1}},
		{"null usage", `{"choices":[{"delta":{"content":"x"}}],"usage":null}`, false, api.Usage{}},
		{"no usage", `{"choices":[{"delta":{"content":"x"}}]}`, false, api.Usage{}},
		{"usage as a string value", `{"choices":[{"delta":{"content":"usage"}}],"k":"usage"}`, false, api.Usage{}},
		{"escaped usage in content", `{"choices":[{"delta":{"content":"{\"usage\":{\"prompt_tokens\":5}}"}}]}`, false, api.Usage{}},
		{"nested usage key only", `{"choices":[],"x":{"usage":{"prompt_tokens":5}}}`, false, api.Usage{}},
		{"not JSON", `[DONE]`, false, api.Usage{}},
		{"broken JSON", `{"usage":{"prompt_tokens":`, false, api.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := api.ChunkUsage([]byte(tt.data))
			if ok != tt.ok || got != tt.want {
				t.Errorf("ChunkUsage = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func BenchmarkChunkUsage(b *testing.B) {
	b.Run("content chunk", func(b *testing.B) {
		data := []byte(`{"choices":[{"index":0,"delta":{"content":" world"}}],"created":1700000000,"id":"chatcmpl-1","model":"gpt-4o","usage":null}`)
		b.ReportAllocs()
		for b.Loop() {
			api.ChunkUsage(data)
		}
	})
	b.Run("usage chunk", func(b *testing.B) {
		data := []byte(`{"choices":[],"created":1700000000,"id":"chatcmpl-1","model":"gpt-4o","usage":{"completion_tokens":120,"prompt_tokens":1500,"total_tokens":1620}}`)
		b.ReportAllocs()
		for b.Loop() {
			api.ChunkUsage(data)
		}
	})
}

// TestUsageOtherNamings: the Responses and Anthropic APIs name the counts
// input_tokens and output_tokens; one reader accounts all three APIs.
func TestUsageOtherNamings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		data string
		want api.Usage
	}{
		{`{"usage":{"input_tokens":12,"output_tokens":5,"total_tokens":17}}`, api.Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17}},
		{`{"type":"message","usage":{"input_tokens":3,"output_tokens":9,"cache_read_input_tokens":0}}`, api.Usage{PromptTokens: 3, CompletionTokens: 9}},
		{`{"type":"message","usage":{"input_tokens":12,"output_tokens":9,"cache_read_input_tokens":19000,"cache_creation_input_tokens":100}}`, api.Usage{PromptTokens: 19112, CompletionTokens: 9, CachedTokens: 19000}},
		{`{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`, api.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
	} {
		got, ok := api.ChunkUsage([]byte(tt.data))
		if !ok || got != tt.want {
			t.Errorf("ChunkUsage(%s) = %+v, %v; want %+v", tt.data, got, ok, tt.want)
		}
		if got, ok := api.TailUsage([]byte(tt.data)); !ok || got != tt.want {
			t.Errorf("TailUsage(%s) = %+v, %v; want %+v", tt.data, got, ok, tt.want)
		}
	}
}
