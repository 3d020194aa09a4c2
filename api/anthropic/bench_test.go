package anthropic_test

import (
	"encoding/json"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/anthropic"
	"github.com/copilot-proxy/copilot-proxy/api/openai"
)

// The passthrough path: only what routing and headers need.
func BenchmarkPeekRequest(b *testing.B) {
	body := fixture(b, "claude_code_request.json")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, e := anthropic.PeekRequest(body); e != nil {
			b.Fatal(e)
		}
	}
}

// Accounting a relayed native stream: most events are text deltas.
func BenchmarkEventUsageDelta(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Some streamed text of a usual length."}}`)
	for b.Loop() {
		if _, ok := anthropic.EventUsage(data); ok {
			b.Fatal("usage in a delta")
		}
	}
}

// One text chunk through the stream converter.
func BenchmarkStreamChunk(b *testing.B) {
	var c openai.ChatChunk
	if err := json.Unmarshal([]byte(`{"choices":[{"index":0,"delta":{"content":"Some streamed text of a usual length."}}],"id":"x","model":"m"}`), &c); err != nil {
		b.Fatal(err)
	}
	s := anthropic.NewStreamFromChat("msg_b", "m")
	s.Start()
	for b.Loop() {
		if len(s.Chunk(&c)) == 0 {
			b.Fatal("no event")
		}
	}
}

func BenchmarkCountTokens(b *testing.B) {
	req := mustParse(b, "claude_code_request.json")
	anthropic.CountTokens(req) // load the encoder outside the loop
	for b.Loop() {
		anthropic.CountTokens(req)
	}
}
