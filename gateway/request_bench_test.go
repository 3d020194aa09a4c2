package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// benchUpstream answers every chat call from memory, as Copilot answers a
// short non-stream request.
type benchUpstream struct{ body []byte }

func (u benchUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, ProtoMajor: 2, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(u.body)), ContentLength: int64(len(u.body)),
	}, nil
}

// benchChatBody is a chat request of about 4 KiB in turns of 200 bytes,
// the load bench's default body.
func benchChatBody() []byte {
	var b strings.Builder
	b.WriteString(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful coding assistant."}`)
	for i := 0; b.Len() < 4<<10; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		b.WriteString(`,{"role":"` + role + `","content":"` + strings.Repeat("lorem ipsum dolor sit amet ", 8) + strconv.Itoa(i) + `"}`)
	}
	b.WriteString(`,{"role":"user","content":"and now?"}]}`)
	return []byte(b.String())
}

// BenchmarkChatRequest is one non-stream chat request through the whole
// gateway in process, every feature on as in the load bench: a client key
// from the key store, per-key and global limits, budgets, usage recorded,
// metrics and the access log. The upstream answers from memory and there is
// no network, so this is the gateway's own work per request, steadier than
// the load bench's CPU figures.
func BenchmarkChatRequest(b *testing.B) {
	ctx := context.Background()
	st, err := keys.Open(ctx, b.TempDir()+"/keys.db", keys.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	key, err := st.Create(ctx, keys.CreateParams{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Hello there, how can I help?"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":1100,"completion_tokens":9,"total_tokens":1109}}`)
	srv := gateway.NewServer(gateway.Deps{
		Logger:   zerolog.New(io.Discard),
		Upstream: benchUpstream{answer},
		Keys:     st,
		Limiter: middleware.NewLimiter(middleware.LimitConfig{KeyRPM: 1 << 30, KeyConcurrency: 1 << 20,
			GlobalRPM: 1 << 30, GlobalConcurrency: 1 << 20}),
		Budgets: middleware.NewBudgets(middleware.BudgetConfig{Spend: st.Spend}),
		Metrics: metrics.New(metrics.Config{}),
	})
	defer srv.Close()
	body := benchChatBody()
	auth := "Bearer " + key.Secret
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
