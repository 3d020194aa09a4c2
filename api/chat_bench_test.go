package api_test

import (
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api"
)

func BenchmarkParseChatRequest(b *testing.B) {
	var msgs []string
	for i := range 20 {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, `{"role":"`+role+`","content":"`+strings.Repeat("lorem ipsum ", 40)+`"}`)
	}
	body := []byte(`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"temperature":0.2,` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"messages":[` + strings.Join(msgs, ",") + `]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, e := api.ParseChatRequest(body); e != nil {
			b.Fatal(e)
		}
	}
}
