package metrics_test

import (
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/metrics"
)

// BenchmarkObserveRequest is the per-request cost of metrics for a chat
// that reached the upstream and reported usage.
func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(metrics.Config{})
	r := &metrics.Request{Route: "/v1/chat/completions", Model: "gpt-4o", KeyID: "key_abcdefghijkl", Status: 200,
		Duration: time.Second, UpstreamStatus: 200, Upstream: 900 * time.Millisecond, Overhead: time.Millisecond,
		PromptTokens: 11, CompletionTokens: 7}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(r)
		}
	})
}
