package copilotfake

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newFake starts the fake for one test and closes it with the test (what
// copilottest.New does for the other packages).
func newFake(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := NewServer(opts...)
	tb.Cleanup(s.Close)
	return s
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request and reads the whole (small) response.
func do(t *testing.T, s *Server, method, path, auth, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

type exchangeResp struct {
	Token     string            `json:"token"`
	ExpiresAt int64             `json:"expires_at"`
	RefreshIn *int64            `json:"refresh_in"`
	Endpoints map[string]string `json:"endpoints"`
	SKU       string            `json:"sku"`
}

// exchange performs a successful token exchange and returns the token.
func exchange(t *testing.T, s *Server) exchangeResp {
	t.Helper()
	r := do(t, s, http.MethodGet, "/copilot_internal/v2/token", "token "+GitHubToken, "")
	if r.status != http.StatusOK {
		t.Fatalf("exchange: status %d body %s", r.status, r.body)
	}
	var er exchangeResp
	if err := json.Unmarshal([]byte(r.body), &er); err != nil {
		t.Fatalf("exchange body %q: %v", r.body, err)
	}
	return er
}

func bearer(t *testing.T, s *Server) string {
	t.Helper()
	return "Bearer " + exchange(t, s).Token
}

var tokenShape = regexp.MustCompile(`^tid=fake\d+-[0-9a-f]{32};exp=\d+;sku=[a-z_]+;proxy-ep=[a-z.]+:[0-9a-f]{64}$`)

func TestExchange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        []Option
		wantRefresh *int64
		wantLife    time.Duration
		wantAPI     string // "" → server URL
	}{
		{name: "defaults", wantRefresh: ptr(int64(1500)), wantLife: 30 * time.Minute},
		{name: "custom lifetime", opts: []Option{WithTokenLifetime(10*time.Minute, 90*time.Second)}, wantRefresh: ptr(int64(90)), wantLife: 10 * time.Minute},
		{name: "refresh zero is sent", opts: []Option{WithTokenLifetime(time.Minute, 0)}, wantRefresh: ptr(int64(0)), wantLife: time.Minute},
		{name: "negative refresh omitted", opts: []Option{WithTokenLifetime(time.Minute, -1)}, wantRefresh: nil, wantLife: time.Minute},
		{name: "endpoints api", opts: []Option{WithEndpointsAPI("https://api.business.githubcopilot.com")}, wantRefresh: ptr(int64(1500)), wantLife: 30 * time.Minute, wantAPI: "https://api.business.githubcopilot.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t, tc.opts...)
			before := time.Now()
			er := exchange(t, s)
			if !tokenShape.MatchString(er.Token) {
				t.Errorf("token %q has the wrong shape", er.Token)
			}
			if (er.RefreshIn == nil) != (tc.wantRefresh == nil) || (er.RefreshIn != nil && *er.RefreshIn != *tc.wantRefresh) {
				t.Errorf("refresh_in = %v, want %v", deref(er.RefreshIn), deref(tc.wantRefresh))
			}
			lo, hi := before.Add(tc.wantLife).Unix()-1, time.Now().Add(tc.wantLife).Unix()+1
			if er.ExpiresAt < lo || er.ExpiresAt > hi {
				t.Errorf("expires_at = %d, want in [%d, %d]", er.ExpiresAt, lo, hi)
			}
			wantAPI := tc.wantAPI
			if wantAPI == "" {
				wantAPI = s.URL()
			}
			if er.Endpoints["api"] != wantAPI {
				t.Errorf("endpoints.api = %q, want %q", er.Endpoints["api"], wantAPI)
			}
			if er.SKU == "" {
				t.Error("sku missing")
			}
			second := exchange(t, s)
			if second.Token == er.Token {
				t.Error("two exchanges issued the same token")
			}
			if got := s.IssuedTokens(); len(got) != 2 || got[0] != er.Token || got[1] != second.Token {
				t.Errorf("IssuedTokens = %v", got)
			}
			if s.ExchangeCount() != 2 || len(s.ExchangeTimes()) != 2 {
				t.Errorf("ExchangeCount = %d, times = %d, want 2", s.ExchangeCount(), len(s.ExchangeTimes()))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func deref(p *int64) any {
	if p == nil {
		return "<omitted>"
	}
	return *p
}

func TestExchangeAuth(t *testing.T) {
	t.Parallel()
	s := newFake(t, WithGitHubToken("gho_other"))
	for _, auth := range []string{"", "token " + GitHubToken, "Bearer gho_other", "token gho_otherX", "Token gho_other"} {
		r := do(t, s, http.MethodGet, "/copilot_internal/v2/token", auth, "")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"Bad credentials"`) {
			t.Errorf("auth %q: status %d body %s, want 401 Bad credentials", auth, r.status, r.body)
		}
	}
	if r := do(t, s, http.MethodGet, "/copilot_internal/v2/token", "token gho_other", ""); r.status != http.StatusOK {
		t.Errorf("right token: status %d", r.status)
	}
	if got := s.ExchangeCount(); got != 6 {
		t.Errorf("ExchangeCount = %d, want 6 (failed attempts count)", got)
	}
	if got := len(s.IssuedTokens()); got != 1 {
		t.Errorf("issued %d tokens, want 1", got)
	}

	s.SetGitHubToken("ghu_rotated")
	if r := do(t, s, http.MethodGet, "/copilot_internal/v2/token", "token gho_other", ""); r.status != http.StatusUnauthorized {
		t.Errorf("old token after SetGitHubToken: status %d", r.status)
	}
}

func TestExchangeFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   int
		body     string
		wantCT   string
		wantBody string
	}{
		{status: 401, wantCT: "application/json", wantBody: `"message":"Bad credentials"`},
		{status: 403, wantCT: "application/json", wantBody: `"error_details":{"message":`},
		{status: 404, wantCT: "application/json", wantBody: `"Not Found"`},
		{status: 503, wantCT: "text/html", wantBody: "<html><body>Service unavailable</body></html>"},
		{status: 500, body: `{"message":"boom"}`, wantCT: "application/json", wantBody: `{"message":"boom"}`},
		{status: 502, body: "plain", wantCT: "text/plain", wantBody: "plain"},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			s.FailExchange(tc.status, tc.body, 2)
			for i := range 2 {
				r := do(t, s, http.MethodGet, "/copilot_internal/v2/token", "token "+GitHubToken, "")
				if r.status != tc.status || !strings.Contains(r.body, tc.wantBody) || !strings.HasPrefix(r.header.Get("Content-Type"), tc.wantCT) {
					t.Fatalf("attempt %d: %d %q %q, want %d %q containing %q", i, r.status, r.header.Get("Content-Type"), r.body, tc.status, tc.wantCT, tc.wantBody)
				}
			}
			exchange(t, s) // the fault was used up
			if s.ExchangeCount() != 3 || len(s.IssuedTokens()) != 1 {
				t.Errorf("count %d issued %d, want 3 and 1", s.ExchangeCount(), len(s.IssuedTokens()))
			}
		})
	}

	t.Run("until cleared", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		s.FailExchange(http.StatusBadGateway, "", 0)
		for range 3 {
			if r := do(t, s, http.MethodGet, "/copilot_internal/v2/token", "token "+GitHubToken, ""); r.status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502", r.status)
			}
		}
		s.ClearExchangeFault()
		exchange(t, s)
	})
}

func TestExchangeLatencyCancel(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetExchangeLatency(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/copilot_internal/v2/token", nil)
	req.Header.Set("Authorization", "token "+GitHubToken)
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("expected the request to time out")
	}
}

func TestUser(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	if r := do(t, s, http.MethodGet, "/copilot_internal/user", "Bearer "+GitHubToken, ""); r.status != http.StatusUnauthorized {
		t.Errorf("bearer auth: status %d, want 401", r.status)
	}
	r := do(t, s, http.MethodGet, "/copilot_internal/user", "token "+GitHubToken, "")
	var u struct {
		Login          string `json:"login"`
		QuotaSnapshots map[string]struct {
			Entitlement      float64 `json:"entitlement"`
			PercentRemaining float64 `json:"percent_remaining"`
			Unlimited        bool    `json:"unlimited"`
		} `json:"quota_snapshots"`
	}
	if err := json.Unmarshal([]byte(r.body), &u); err != nil || r.status != 200 {
		t.Fatalf("status %d body %s err %v", r.status, r.body, err)
	}
	if p := u.QuotaSnapshots["premium_interactions"]; p.Entitlement != 300 || p.PercentRemaining != 40 || p.Unlimited {
		t.Errorf("premium_interactions = %+v", p)
	}
	if !u.QuotaSnapshots["chat"].Unlimited || !u.QuotaSnapshots["completions"].Unlimited {
		t.Errorf("chat/completions should be unlimited: %+v", u.QuotaSnapshots)
	}
	s.SetUserJSON(`{"login":"x"}`)
	if r := do(t, s, http.MethodGet, "/copilot_internal/user", "token "+GitHubToken, ""); r.body != `{"login":"x"}` {
		t.Errorf("SetUserJSON: body %s", r.body)
	}
}

func TestCopilotTokenValidation(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	good := bearer(t, s)

	expiring := newFake(t, WithTokenLifetime(-time.Second, -1))
	expired := bearer(t, expiring)

	tests := []struct {
		name string
		s    *Server
		auth string
		want int
	}{
		{"no auth", s, "", 401},
		{"github token", s, "Bearer " + GitHubToken, 401},
		{"unknown token", s, "Bearer tid=fake1-00;exp=1:00", 401},
		{"token scheme", s, "token " + strings.TrimPrefix(good, "Bearer "), 401},
		{"expired", expiring, expired, 401},
		{"good", s, good, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/models", "/chat/completions", "/embeddings"} {
				method, body := http.MethodPost, `{"model":"gpt-4o","messages":[],"input":"hi"}`
				if path == "/models" {
					method, body = http.MethodGet, ""
				}
				r := do(t, tc.s, method, path, tc.auth, body)
				if r.status != tc.want {
					t.Errorf("%s: status %d, want %d", path, r.status, tc.want)
				}
				if tc.want == 401 && (r.body != "unauthorized: token expired" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain")) {
					t.Errorf("%s: 401 body %q type %q", path, r.body, r.header.Get("Content-Type"))
				}
			}
		})
	}
}

func TestRevokeTokens(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	a, b := bearer(t, s), bearer(t, s)
	s.RevokeTokens()
	c := bearer(t, s)
	for auth, want := range map[string]int{a: 401, b: 401, c: 200} {
		if r := do(t, s, http.MethodGet, "/models", auth, ""); r.status != want {
			t.Errorf("token %d: status %d, want %d", len(auth), r.status, want)
		}
	}
	s.Reset() // keeps issued tokens and revocation
	if r := do(t, s, http.MethodGet, "/models", a, ""); r.status != 401 {
		t.Errorf("revoked token after Reset: %d", r.status)
	}
	if r := do(t, s, http.MethodGet, "/models", c, ""); r.status != 200 {
		t.Errorf("valid token after Reset: %d", r.status)
	}
}

func TestChatNonStream(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	r := do(t, s, http.MethodPost, "/chat/completions", auth, `{"model":"claude-sonnet-4","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 200 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	var c struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message      struct{ Role, Content string } `json:"message"`
			FinishReason string                         `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "chatcmpl-fake") || c.Object != "chat.completion" || c.Model != "claude-sonnet-4" ||
		len(c.Choices) != 1 || c.Choices[0].Message.Content != DefaultChatContent || c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens != 18 {
		t.Errorf("unexpected completion %s", r.body)
	}
	if got := r.header.Get("x-quota-snapshot-premium_interactions"); got != DefaultPremiumQuotaHeader {
		t.Errorf("premium quota header %q", got)
	}
	if got := r.header.Get("x-quota-snapshot-chat"); got != DefaultChatQuotaHeader {
		t.Errorf("chat quota header %q", got)
	}

	s.SetChatResponse(`{"custom":true}`)
	if r := do(t, s, http.MethodPost, "/chat/completions", auth, `{"model":"gpt-4o"}`); r.body != `{"custom":true}` {
		t.Errorf("SetChatResponse: %s", r.body)
	}
	if r := do(t, s, http.MethodPost, "/chat/completions", auth, `{not json`); r.status != 400 || !strings.Contains(r.body, `"error"`) {
		t.Errorf("bad json: %d %s", r.status, r.body)
	}
}

// readEvents splits an SSE body into its "data: " payloads (and comment lines).
func readEvents(t *testing.T, body string) []string {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", body)
	}
	return strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
}

func TestChatStreamShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks int
		usage  bool
	}{
		{"default", -1, false},
		{"usage", -1, true},
		{"five chunks", 5, false},
		{"no content", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			chunks := DefaultChunks
			if tc.chunks >= 0 {
				chunks = tc.chunks
				s.SetStream(chunks, 0)
			}
			body := `{"model":"gpt-4o","stream":true,"messages":[]}`
			if tc.usage {
				body = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`
			}
			r := do(t, s, http.MethodPost, "/chat/completions", bearer(t, s), body)
			if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d type %q", r.status, r.header.Get("Content-Type"))
			}
			if r.header.Get("x-quota-snapshot-premium_interactions") == "" {
				t.Error("no quota header on stream")
			}
			checkChatStream(t, readEvents(t, r.body), chunks, tc.usage)
		})
	}
}

// checkChatStream checks a generated chat stream of chunks content chunks.
func checkChatStream(t *testing.T, events []string, chunks int, usage bool) {
	t.Helper()
	want := 1 + chunks + 1 + 1
	if usage {
		want++
	}
	if len(events) != want {
		t.Fatalf("%d events, want %d: %q", len(events), want, events)
	}
	var payloads []map[string]any
	for i, e := range events {
		p, ok := strings.CutPrefix(e, "data: ")
		if !ok {
			t.Fatalf("event %d %q lacks data: prefix", i, e)
		}
		if i == len(events)-1 {
			if p != "[DONE]" {
				t.Fatalf("last event %q, want [DONE]", p)
			}
			break
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(p), &m); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		payloads = append(payloads, m)
	}
	if ch := payloads[0]["choices"].([]any); len(ch) != 0 || payloads[0]["prompt_filter_results"] == nil {
		t.Errorf("first event %v should have empty choices and prompt_filter_results", payloads[0])
	}
	checkChatChunks(t, payloads, chunks, usage)
}

// checkChatChunks checks the content, finish and usage chunks.
func checkChatChunks(t *testing.T, payloads []map[string]any, chunks int, usage bool) {
	t.Helper()
	var content strings.Builder
	for _, p := range payloads[1 : 1+chunks] {
		if p["object"] != "chat.completion.chunk" || p["model"] != "gpt-4o" {
			t.Errorf("chunk %v", p)
		}
		c := p["choices"].([]any)[0].(map[string]any)
		content.WriteString(c["delta"].(map[string]any)["content"].(string))
		if c["finish_reason"] != nil {
			t.Errorf("content chunk with finish_reason %v", c["finish_reason"])
		}
	}
	wantContent := ""
	for i := range chunks {
		wantContent += "chunk " + string(rune('0'+i)) + " "
	}
	if content.String() != wantContent {
		t.Errorf("content %q, want %q", content.String(), wantContent)
	}
	finish := payloads[1+chunks]["choices"].([]any)[0].(map[string]any)
	if finish["finish_reason"] != "stop" {
		t.Errorf("finish chunk %v", payloads[1+chunks])
	}
	if usage {
		u := payloads[2+chunks]
		usage := u["usage"].(map[string]any)
		if len(u["choices"].([]any)) != 0 || usage["completion_tokens"] != float64(chunks) || usage["total_tokens"] != float64(11+chunks) {
			t.Errorf("usage chunk %v", u)
		}
	}
}

func TestStreamEvents(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetStreamEvents([]string{`{"a":1}`, ": ping", "data: {\"b\":2}", "[DONE]"})
	r := do(t, s, http.MethodPost, "/chat/completions", bearer(t, s), `{"model":"m","stream":true}`)
	want := "data: {\"a\":1}\n\n: ping\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
	if r.body != want {
		t.Errorf("body %q, want %q", r.body, want)
	}
	s.SetStreamEvents(nil)
	r = do(t, s, http.MethodPost, "/chat/completions", bearer(t, s), `{"model":"m","stream":true}`)
	if !strings.Contains(r.body, "chunk 0 ") {
		t.Errorf("generated stream not restored: %q", r.body)
	}
}

// startStream posts a streaming chat and returns the response and a cancel
// func for its context.
func startStream(t *testing.T, s *Server, auth string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[]}`))
	req.Header.Set("Authorization", auth)
	resp, err := s.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, cancel
}

func TestStreamFlushesEachEventAndReportsCancel(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetStream(3, time.Hour) // the second event would come an hour later
	resp, cancel := startStream(t, s, bearer(t, s))
	defer cancel()

	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") || !strings.Contains(line, "prompt_filter_results") {
		t.Fatalf("first event line %q, err %v", line, err)
	}
	if s.InFlight() != 1 {
		t.Errorf("InFlight = %d while streaming, want 1", s.InFlight())
	}
	cancel()
	select {
	case ci := <-s.Canceled():
		if ci.Path != "/chat/completions" || ci.At.IsZero() {
			t.Errorf("CancelInfo %+v", ci)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cancellation reported")
	}
	eventually(t, "InFlight 0", func() bool { return s.InFlight() == 0 })
}

func TestHangAndCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(s *Server)
		path  string
	}{
		{"chat hang", func(s *Server) { s.SetChatFault(Fault{Hang: true}) }, "/chat/completions"},
		{"models hang", func(s *Server) { s.SetModelsFault(Fault{Hang: true}) }, "/models"},
		{"latency", func(s *Server) { s.SetLatency(time.Hour) }, "/models"},
		{"stall", func(s *Server) { s.SetChatFault(Fault{StallAfter: 1, StallFor: time.Hour}) }, "/chat/completions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			auth := bearer(t, s)
			tc.setup(s)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			method, body := http.MethodGet, ""
			if tc.path == "/chat/completions" {
				method, body = http.MethodPost, `{"model":"gpt-4o","stream":true}`
			}
			req, _ := http.NewRequestWithContext(ctx, method, s.URL()+tc.path, strings.NewReader(body))
			req.Header.Set("Authorization", auth)
			errc := make(chan error, 1)
			go func() {
				resp, err := s.Client().Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				errc <- err
			}()
			eventually(t, "request in flight", func() bool { return s.InFlight() == 1 })
			cancel()
			start := time.Now()
			select {
			case ci := <-s.Canceled():
				if ci.Path != tc.path {
					t.Errorf("cancel path %q, want %q", ci.Path, tc.path)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no cancellation reported")
			}
			// Event-driven, so it is fast; the bound is generous for busy machines.
			if d := time.Since(start); d > time.Second {
				t.Errorf("cancellation seen after %v", d)
			}
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error %v, want context.Canceled", err)
			}
			eventually(t, "InFlight 0", func() bool { return s.InFlight() == 0 })
		})
	}
}

func TestDropAfter(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetChatFault(Fault{DropAfter: 2, Count: 1})
	auth := bearer(t, s)
	resp, cancel := startStream(t, s, auth)
	defer cancel()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error %v, want unexpected EOF", err)
	}
	if n := strings.Count(string(b), "data: "); n != 2 {
		t.Errorf("got %d events before the drop, want 2: %q", n, b)
	}
	eventually(t, "InFlight 0", func() bool { return s.InFlight() == 0 })
	select {
	case ci := <-s.Canceled():
		t.Errorf("a deliberate drop was reported as a cancel: %+v", ci)
	default:
	}
	// Count 1: the next stream is whole.
	r := do(t, s, http.MethodPost, "/chat/completions", auth, `{"model":"gpt-4o","stream":true}`)
	if !strings.HasSuffix(r.body, "data: [DONE]\n\n") {
		t.Errorf("second stream incomplete: %q", r.body)
	}
}

func TestStallAfter(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	const stall = 150 * time.Millisecond
	s.SetChatFault(Fault{StallAfter: 2, StallFor: stall})
	start := time.Now()
	r := do(t, s, http.MethodPost, "/chat/completions", bearer(t, s), `{"model":"gpt-4o","stream":true}`)
	if d := time.Since(start); d < stall {
		t.Errorf("stream took %v, want at least the stall %v", d, stall)
	}
	if !strings.HasSuffix(r.body, "data: [DONE]\n\n") || strings.Count(r.body, "data: ") != 6 {
		t.Errorf("stalled stream incomplete: %q", r.body)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	const d = 100 * time.Millisecond
	s.SetLatency(d)
	start := time.Now()
	if r := do(t, s, http.MethodGet, "/models", auth, ""); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if el := time.Since(start); el < d {
		t.Errorf("took %v, want >= %v", el, d)
	}
}

func TestStatusFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		fault    Fault
		wantCT   string
		wantBody string
	}{
		{"chat 429", "/chat/completions", Fault{Status: 429, RetryAfter: "7", Count: 1}, "application/json", `"code":"rate_limited"`},
		{"chat 500", "/chat/completions", Fault{Status: 500, Count: 1}, "application/json", `"type":"server_error"`},
		{"chat 401", "/chat/completions", Fault{Status: 401, Count: 1}, "application/json", `"error":{`},
		{"chat 400", "/chat/completions", Fault{Status: 400, Count: 1}, "application/json", `"type":"invalid_request_error"`},
		{"chat html", "/chat/completions", Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html", Count: 1}, "text/html", "<html>bad gateway</html>"},
		{"models 503", "/models", Fault{Status: 503, Count: 1}, "application/json", `"error":{`},
		{"embeddings 429", "/embeddings", Fault{Status: 429, RetryAfter: "3", Count: 1}, "application/json", `"rate_limited"`},
		{"responses 500", "/responses", Fault{Status: 500, Count: 1}, "application/json", `"type":"server_error"`},
		{"messages 503", "/v1/messages", Fault{Status: 503, Count: 1}, "application/json", `"type":"server_error"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			auth := bearer(t, s)
			s.SetFault(tc.path, tc.fault)
			method, body := http.MethodPost, `{"model":"gpt-4o","input":"x"}`
			switch tc.path {
			case "/models":
				method, body = http.MethodGet, ""
			case "/v1/messages":
				body = `{"model":"claude-sonnet-4.5","messages":[]}`
			case "/responses":
				body = `{"model":"gpt-5","input":"x"}`
			}
			r := do(t, s, method, tc.path, auth, body)
			if r.status != tc.fault.Status || r.header.Get("Content-Type") != tc.wantCT || !strings.Contains(r.body, tc.wantBody) {
				t.Errorf("got %d %q %q, want %d %q containing %q", r.status, r.header.Get("Content-Type"), r.body, tc.fault.Status, tc.wantCT, tc.wantBody)
			}
			if got := r.header.Get("Retry-After"); got != tc.fault.RetryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.fault.RetryAfter)
			}
			if r := do(t, s, method, tc.path, auth, body); r.status != 200 {
				t.Errorf("fault with Count 1 applied twice: %d", r.status)
			}
		})
	}
}

func TestStatusFaultsUntilCleared(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetChatFault(Fault{Status: 500})
	for range 3 {
		if r := do(t, s, http.MethodPost, "/chat/completions", auth, `{}`); r.status != 500 {
			t.Fatalf("status %d", r.status)
		}
	}
	s.ClearChatFault()
	if r := do(t, s, http.MethodPost, "/chat/completions", auth, `{}`); r.status != 200 {
		t.Fatalf("after clear: status %d", r.status)
	}
	s.SetModelsFault(Fault{Status: 500})
	s.ClearModelsFault()
	s.SetEmbeddingsFault(Fault{Status: 500})
	s.ClearEmbeddingsFault()
	if r := do(t, s, http.MethodGet, "/models", auth, ""); r.status != 200 {
		t.Fatalf("models after clear: %d", r.status)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	r := do(t, s, http.MethodGet, "/models", auth, "")
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID                 string                  `json:"id"`
			Name               string                  `json:"name"`
			Vendor             string                  `json:"vendor"`
			Version            string                  `json:"version"`
			Preview            *bool                   `json:"preview"`
			ModelPickerEnabled *bool                   `json:"model_picker_enabled"`
			Policy             *struct{ State string } `json:"policy"`
			Billing            *struct {
				IsPremium  bool    `json:"is_premium"`
				Multiplier float64 `json:"multiplier"`
			} `json:"billing"`
			SupportedEndpoints []string `json:"supported_endpoints"`
			Capabilities       struct {
				Type     string         `json:"type"`
				Family   string         `json:"family"`
				Limits   map[string]any `json:"limits"`
				Supports map[string]any `json:"supports"`
			} `json:"capabilities"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, m := range list.Data {
		types[m.ID] = m.Capabilities.Type
		if m.Name == "" || m.Vendor == "" || m.Version == "" || m.Preview == nil || m.ModelPickerEnabled == nil ||
			m.Policy == nil || m.Billing == nil || len(m.SupportedEndpoints) == 0 || m.Capabilities.Family == "" ||
			len(m.Capabilities.Limits) == 0 || m.Capabilities.Supports["streaming"] == nil {
			t.Errorf("model %q lacks fields", m.ID)
		}
	}
	want := map[string]string{"gpt-4o": "chat", "claude-sonnet-4": "chat", "text-embedding-3-small": "embeddings"}
	if list.Object != "list" || len(types) < 3 {
		t.Errorf("list %s", r.body)
	}
	for id, typ := range want {
		if types[id] != typ {
			t.Errorf("model %q type %q, want %q", id, types[id], typ)
		}
	}
	if r.header.Get("x-quota-snapshot-premium_interactions") != "" {
		t.Error("models is not an inference route: no quota header expected")
	}
	s.SetModelsJSON(`{"object":"list","data":[]}`)
	if r := do(t, s, http.MethodGet, "/models", auth, ""); r.body != `{"object":"list","data":[]}` {
		t.Errorf("SetModelsJSON: %s", r.body)
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	tests := []struct {
		name     string
		body     string
		wantN    int
		wantCode int
	}{
		{"string", `{"model":"text-embedding-3-small","input":"hello world"}`, 1, 200},
		{"array", `{"model":"text-embedding-3-small","input":["a","b c","d"],"encoding_format":"base64"}`, 3, 200},
		{"token ids", `{"model":"text-embedding-3-small","input":[1,2,3]}`, 1, 200},
		{"bad input", `{"model":"text-embedding-3-small","input":{"x":1}}`, 0, 400},
		{"bad json", `{`, 0, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, s, http.MethodPost, "/embeddings", auth, tc.body)
			if r.status != tc.wantCode {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			if tc.wantCode != 200 {
				return
			}
			var e struct {
				Object string `json:"object"`
				Model  string `json:"model"`
				Data   []struct {
					Object    string    `json:"object"`
					Index     int       `json:"index"`
					Embedding []float64 `json:"embedding"`
				} `json:"data"`
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
					TotalTokens  int `json:"total_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			if e.Object != "list" || e.Model != "text-embedding-3-small" || len(e.Data) != tc.wantN || e.Usage.PromptTokens < tc.wantN {
				t.Errorf("response %s", r.body)
			}
			for i, d := range e.Data {
				if d.Index != i || d.Object != "embedding" || len(d.Embedding) != EmbeddingDims {
					t.Errorf("item %d: %+v", i, d)
				}
			}
			if r.header.Get("x-quota-snapshot-chat") != DefaultChatQuotaHeader {
				t.Error("no quota header on embeddings")
			}
		})
	}
}

func TestQuotaHeaders(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetQuotaHeader("premium_interactions", "ent=300&ov=0.0&ovPerm=false&rem=0.0&rst=2026-12-01T00%3A00%3A00Z")
	s.SetQuotaHeader("chat", "")
	s.SetQuotaHeader("completions", "ent=0&rem=100.0")
	r := do(t, s, http.MethodPost, "/chat/completions", auth, `{"model":"gpt-4o"}`)
	if got := r.header.Get("x-quota-snapshot-premium_interactions"); !strings.Contains(got, "rem=0.0") {
		t.Errorf("premium header %q", got)
	}
	if _, ok := r.header[http.CanonicalHeaderKey("x-quota-snapshot-chat")]; ok {
		t.Error("removed chat quota header still sent")
	}
	if got := r.header.Get("x-quota-snapshot-completions"); got != "ent=0&rem=100.0" {
		t.Errorf("completions header %q", got)
	}
}

func TestRequestsRecorded(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(`{"model":"gpt-4o"}`))
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Initiator", "agent")
	req.Header.Set("Editor-Version", "vscode/1.104.3")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	do(t, s, http.MethodGet, "/nowhere", "", "")

	all := s.Requests()
	if len(all) != 3 || all[0].Path != "/copilot_internal/v2/token" || all[1].Path != "/chat/completions" || all[2].Path != "/nowhere" {
		t.Fatalf("requests %+v", all)
	}
	chat := s.RequestsTo("/chat/completions")
	if len(chat) != 1 {
		t.Fatalf("RequestsTo: %d", len(chat))
	}
	c := chat[0]
	if c.Method != http.MethodPost || string(c.Body) != `{"model":"gpt-4o"}` || c.Header.Get("X-Initiator") != "agent" ||
		c.Header.Get("Editor-Version") != "vscode/1.104.3" || c.Time.IsZero() {
		t.Errorf("recorded %+v", c)
	}
	if all[0].Header.Get("Authorization") != "token "+GitHubToken {
		t.Error("exchange Authorization header not recorded")
	}
	c.Header.Set("X-Initiator", "changed") // clones: must not alter the record
	if s.RequestsTo("/chat/completions")[0].Header.Get("X-Initiator") != "agent" {
		t.Error("Requests does not return clones")
	}
}

func TestRequireEditorVersion(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetRequireEditorVersion(true)
	r := do(t, s, http.MethodGet, "/models", auth, "")
	if r.status != 400 || !strings.Contains(r.body, "Editor-Version") {
		t.Errorf("got %d %q", r.status, r.body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	if r := do(t, s, http.MethodGet, "/chat/completions", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /chat/completions: %d", r.status)
	}
	if r := do(t, s, http.MethodGet, "/v1/models", "", ""); r.status != http.StatusNotFound {
		t.Errorf("GET /v1/models: %d", r.status)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	s := newFake(t, WithTokenLifetime(time.Hour, 2*time.Minute), WithEndpointsAPI("https://api.githubcopilot.com"))
	auth := bearer(t, s)
	s.SetTokenLifetime(time.Minute, -1)
	s.SetEndpointsAPI("https://elsewhere.example")
	s.FailExchange(500, "", 0)
	s.SetChatFault(Fault{Status: 500})
	s.SetModelsFault(Fault{Status: 500})
	s.SetEmbeddingsFault(Fault{Status: 500})
	s.SetStream(9, time.Hour)
	s.SetStreamEvents([]string{"x"})
	s.SetChatResponse("x")
	s.SetModelsJSON("x")
	s.SetUserJSON("x")
	s.SetQuotaHeader("chat", "")
	s.SetLatency(time.Hour)
	s.SetExchangeLatency(time.Hour)
	s.SetRequireEditorVersion(true)

	s.Reset()

	if len(s.Requests()) != 0 || s.ExchangeCount() != 0 || len(s.ExchangeTimes()) != 0 {
		t.Error("recordings not cleared")
	}
	if len(s.IssuedTokens()) != 1 {
		t.Error("issued tokens were cleared")
	}
	er := exchange(t, s)
	if er.RefreshIn == nil || *er.RefreshIn != 120 || er.Endpoints["api"] != "https://api.githubcopilot.com" {
		t.Errorf("constructor settings not restored: %+v", er)
	}
	r := do(t, s, http.MethodPost, "/chat/completions", auth, `{"model":"gpt-4o","stream":true}`)
	if r.status != 200 || strings.Count(r.body, "data: ") != 6 || r.header.Get("x-quota-snapshot-chat") == "" {
		t.Errorf("chat not reset: %d %q", r.status, r.body)
	}
	if r := do(t, s, http.MethodPost, "/chat/completions", auth, `{"model":"gpt-4o"}`); !strings.Contains(r.body, DefaultChatContent) {
		t.Errorf("chat response not reset: %s", r.body)
	}
	if r := do(t, s, http.MethodGet, "/models", auth, ""); r.body != DefaultModelsJSON {
		t.Error("models not reset")
	}
	if r := do(t, s, http.MethodPost, "/embeddings", auth, `{"input":"x"}`); r.status != 200 {
		t.Errorf("embeddings not reset: %d", r.status)
	}
	if r := do(t, s, http.MethodGet, "/copilot_internal/user", "token "+GitHubToken, ""); r.body != DefaultUserJSON {
		t.Error("user not reset")
	}
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	t.Parallel()
	s := NewServer()
	s.SetLatency(time.Hour)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/models", nil)
		resp, err := s.Client().Do(req) // no auth needed: latency comes before auth
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, "request in flight", func() bool { return s.InFlight() == 1 })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	// Released, not answered: the client sees an error or, when the handler
	// returns before the connection is cut, an empty response.
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
	s.Close() // idempotent
	select {
	case ci := <-s.Canceled():
		t.Errorf("Close reported as a client cancel: %+v", ci)
	default:
	}
}
