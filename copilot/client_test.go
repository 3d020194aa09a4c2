package copilot_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

const chatBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":false}`
const streamBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}`

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type stack struct {
	s      *copilottest.Server
	tokens *copilot.TokenManager
	client *copilot.Client
	logs   *logBuffer
}

// newStack wires the real Auth, TokenManager and Client against the fake,
// with the fake as the explicit Copilot base URL.
func newStack(t *testing.T, s *copilottest.Server, edit func(*copilot.ClientConfig)) *stack {
	t.Helper()
	st := &stack{s: s, logs: &logBuffer{}}
	log := zerolog.New(st.logs).Level(zerolog.DebugLevel)
	hc := testHTTPClient(t)
	auth := copilot.NewAuth(hc, s.URL(), copilottest.GitHubToken, copilot.DefaultEditor())
	st.tokens = copilot.NewTokenManager(copilot.TokenManagerConfig{Exchange: auth.Exchange, Logger: log})
	st.tokens.Start()
	t.Cleanup(st.tokens.Close)
	cfg := copilot.ClientConfig{HTTPClient: hc, Tokens: st.tokens, BaseURL: s.URL(), Logger: log}
	if edit != nil {
		edit(&cfg)
	}
	st.client = copilot.NewClient(cfg)
	t.Cleanup(func() {
		for _, tok := range s.IssuedTokens() {
			if strings.Contains(st.logs.String(), tok) {
				t.Errorf("a Copilot token leaked into the logs")
			}
		}
		if strings.Contains(st.logs.String(), copilottest.GitHubToken) {
			t.Errorf("the GitHub token leaked into the logs")
		}
	})
	return st
}

func doRead(t *testing.T, c *copilot.Client, req *copilot.Request) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Do(ctx, req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

func TestClientHeaders(t *testing.T) {
	t.Parallel()
	// Go's transport adds these itself; anything else must come from Client.
	allowed := []string{"Accept", "Accept-Encoding", "Authorization", "Content-Length", "Content-Type",
		"Copilot-Integration-Id", "Copilot-Vision-Request", "Editor-Plugin-Version", "Editor-Version",
		"Openai-Intent", "User-Agent", "X-Github-Api-Version", "X-Initiator", "X-Request-Id"}
	tests := []struct {
		name      string
		req       copilot.Request
		wantInit  string
		wantVis   bool
		wantAcc   string
		wantReqID string
	}{
		{"user with image", copilot.Request{Path: "/chat/completions", Body: []byte(chatBody), Initiator: "user", Vision: true},
			"user", true, "application/json", ""},
		{"agent without image", copilot.Request{Path: "/chat/completions", Body: []byte(chatBody), Initiator: "agent"},
			"agent", false, "application/json", ""},
		{"no initiator, stream accept, given id", copilot.Request{Method: http.MethodPost, Path: "chat/completions", Body: []byte(chatBody),
			Accept: "text/event-stream", RequestID: "req-123"}, "", false, "text/event-stream", "req-123"},
		{"models GET", copilot.Request{Path: "/models"}, "", false, "application/json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := copilottest.New(t)
			st := newStack(t, s, func(c *copilot.ClientConfig) {
				c.Editor = copilot.Editor{EditorVersion: "vscode/2.0.0", APIVersion: "2030-01-01"}
			})
			resp, _ := doRead(t, st.client, &tt.req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			path := "/" + strings.TrimPrefix(tt.req.Path, "/")
			reqs := s.RequestsTo(path)
			if len(reqs) != 1 {
				t.Fatalf("%d requests to %s", len(reqs), path)
			}
			r := reqs[0]
			h := r.Header
			want := map[string]string{
				"Authorization":          "Bearer " + s.IssuedTokens()[0],
				"Accept":                 tt.wantAcc,
				"Copilot-Integration-Id": "vscode-chat",
				"Editor-Version":         "vscode/2.0.0",
				"Editor-Plugin-Version":  copilot.DefaultPluginVersion,
				"User-Agent":             copilot.DefaultUserAgent,
				"Openai-Intent":          "conversation-panel",
				"X-Github-Api-Version":   "2030-01-01",
				"X-Initiator":            tt.wantInit,
			}
			if tt.req.Body != nil {
				want["Content-Type"] = "application/json"
				if string(r.Body) != chatBody {
					t.Errorf("body %q", r.Body)
				}
			} else {
				want["Content-Type"] = ""
				if r.Method != http.MethodGet {
					t.Errorf("method %s, want GET", r.Method)
				}
			}
			for name, v := range want {
				if got := h.Get(name); got != v {
					t.Errorf("%s = %q, want %q", name, got, v)
				}
			}
			if _, present := h["X-Initiator"]; present != (tt.wantInit != "") {
				t.Errorf("X-Initiator present = %v", present)
			}
			if got, present := h.Get("Copilot-Vision-Request"), len(h.Values("Copilot-Vision-Request")) > 0; present != tt.wantVis || (tt.wantVis && got != "true") {
				t.Errorf("Copilot-Vision-Request = %q (present %v), want present %v", got, present, tt.wantVis)
			}
			if id := h.Get("X-Request-Id"); (tt.wantReqID != "" && id != tt.wantReqID) || (tt.wantReqID == "" && !uuidRE.MatchString(id)) {
				t.Errorf("X-Request-Id = %q", id)
			}
			for name := range h {
				if !slices.Contains(allowed, name) {
					t.Errorf("unexpected header %s: %q", name, h.Values(name))
				}
			}
		})
	}
}

func TestClientFreshRequestIDs(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	for range 3 {
		doRead(t, st.client, &copilot.Request{Path: "/models"})
	}
	seen := map[string]bool{}
	for _, r := range s.RequestsTo("/models") {
		seen[r.Header.Get("X-Request-Id")] = true
	}
	if len(seen) != 3 {
		t.Fatalf("request ids not fresh: %v", seen)
	}
}

func TestClientRetriesOnceAfter401(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	doRead(t, st.client, &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody)})

	s.RevokeTokens() // the Copilot token dies mid-life
	resp, body := doRead(t, st.client, &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody), Initiator: "user"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, copilottest.DefaultChatContent) {
		t.Fatalf("after a 401: status %d body %q", resp.StatusCode, body)
	}
	if n := s.ExchangeCount(); n != 2 {
		t.Fatalf("%d exchanges, want 2 (one re-exchange)", n)
	}
	reqs := s.RequestsTo("/chat/completions")
	if len(reqs) != 3 {
		t.Fatalf("%d chat requests, want 3", len(reqs))
	}
	rejected, retried := reqs[1], reqs[2]
	issued := s.IssuedTokens()
	if rejected.Header.Get("Authorization") != "Bearer "+issued[0] || retried.Header.Get("Authorization") != "Bearer "+issued[1] {
		t.Fatal("the retry did not use the new token")
	}
	if string(retried.Body) != chatBody || retried.Header.Get("X-Request-Id") != rejected.Header.Get("X-Request-Id") ||
		retried.Header.Get("X-Initiator") != "user" {
		t.Fatalf("the retry is not the same request: body %q", retried.Body)
	}
}

func TestClientConcurrent401sOneReexchange(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	doRead(t, st.client, &copilot.Request{Path: "/models"})
	s.RevokeTokens()

	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := st.client.Do(ctx, &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody)})
			if err != nil {
				t.Errorf("Do: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if got := s.ExchangeCount(); got != 2 {
		t.Fatalf("%d concurrent 401s caused %d re-exchanges, want 1", n, got-1)
	}
}

func TestClientSecond401IsReturned(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{Status: http.StatusUnauthorized})
	st := newStack(t, s, nil)
	resp, body := doRead(t, st.client, &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody)})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unauthorized") {
		t.Fatalf("status %d body %q; want the second 401 as the response", resp.StatusCode, body)
	}
	if n := len(s.RequestsTo("/chat/completions")); n != 2 {
		t.Fatalf("%d chat requests, want 2 (no loop)", n)
	}
	if n := s.ExchangeCount(); n != 2 {
		t.Fatalf("%d exchanges, want 2", n)
	}
}

// stubTokens is a TokenSource returning scripted tokens.
type stubTokens struct {
	mu          sync.Mutex
	next        func(call int) (*copilot.Token, error)
	calls       int
	invalidated []string
}

func (s *stubTokens) Token(context.Context) (*copilot.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.next(s.calls)
}

func (s *stubTokens) Invalidate(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, v)
}

func staticToken(tok *copilot.Token) *stubTokens {
	return &stubTokens{next: func(int) (*copilot.Token, error) { return tok, nil }}
}

// countingTransport counts round trips and fails them.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("no network in this test")
}

func TestClientTokenErrorsReturnedAsIs(t *testing.T) {
	t.Parallel()
	unavailable := &copilot.UnavailableError{Cause: &copilot.ExchangeError{Kind: copilot.KindBadToken, Status: 401}}
	rt := &countingTransport{}
	c := copilot.NewClient(copilot.ClientConfig{
		HTTPClient: &http.Client{Transport: rt},
		Tokens:     &stubTokens{next: func(int) (*copilot.Token, error) { return nil, unavailable }},
	})
	resp, err := c.Do(context.Background(), &copilot.Request{Path: "/models"})
	if resp != nil || err != unavailable {
		t.Fatalf("Do = %v, %v; want the token error as is", resp, err)
	}
	if rt.n.Load() != 0 {
		t.Fatal("a request was sent without a token")
	}
}

func TestClientTokenErrorOnRetry(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	unavailable := &copilot.UnavailableError{Cause: errors.New("GitHub unreachable")}
	tokens := &stubTokens{next: func(call int) (*copilot.Token, error) {
		if call == 1 {
			return &copilot.Token{Value: "first", ExpiresAt: time.Now().Add(time.Hour)}, nil
		}
		return nil, unavailable
	}}
	c := copilot.NewClient(copilot.ClientConfig{HTTPClient: testHTTPClient(t), Tokens: tokens, BaseURL: srv.URL})
	resp, err := c.Do(context.Background(), &copilot.Request{Path: "/models"})
	if resp != nil || !errors.Is(err, unavailable) {
		t.Fatalf("Do = %v, %v", resp, err)
	}
	if !slices.Equal(tokens.invalidated, []string{"first"}) {
		t.Fatalf("invalidated %q", tokens.invalidated)
	}
}

func TestClientBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     string
		allowed  []string
		apiURL   string
		want     string
		wantErrs []string // substrings of the error; nil means success
	}{
		{"default when absent", "", nil, "", copilot.DefaultBaseURL, nil},
		{"individual", "", nil, "https://api.individual.githubcopilot.com", "https://api.individual.githubcopilot.com", nil},
		{"business trailing slash", "", nil, "https://api.business.githubcopilot.com/", "https://api.business.githubcopilot.com", nil},
		{"upper case", "", nil, "https://API.Enterprise.GitHubCopilot.com", "https://API.Enterprise.GitHubCopilot.com", nil},
		{"explicit overrides a bad endpoint", "https://copilot.internal.example/", nil, "https://evil.example.com", "https://copilot.internal.example", nil},
		{"explicit overrides http", "http://127.0.0.1:9999", nil, "http://api.githubcopilot.com", "http://127.0.0.1:9999", nil},
		{"evil host", "", nil, "https://evil.example.com", "", []string{`"https://evil.example.com"`, `host "evil.example.com" is not in the allow-list`, "--copilot-api-url"}},
		{"http refused", "", nil, "http://api.githubcopilot.com", "", []string{"not https"}},
		{"apex not matched by wildcard", "", nil, "https://githubcopilot.com", "", []string{"allow-list"}},
		{"suffix trick", "", nil, "https://api.githubcopilot.com.evil.com", "", []string{"allow-list"}},
		{"no dot boundary", "", nil, "https://evilgithubcopilot.com", "", []string{"allow-list"}},
		{"userinfo", "", nil, "https://u:p@api.githubcopilot.com", "", []string{"user info"}},
		{"not absolute", "", nil, "api.githubcopilot.com", "", []string{"not an absolute URL"}},
		{"GHE exact", "", []string{"copilot-api.example.ghe.com"}, "https://copilot-api.example.ghe.com", "https://copilot-api.example.ghe.com", nil},
		{"GHE wildcard", "", []string{"*.example.ghe.com"}, "https://copilot-api.example.ghe.com", "https://copilot-api.example.ghe.com", nil},
		{"GHE exact does not allow others", "", []string{"copilot-api.example.ghe.com"}, "https://other.example.ghe.com", "", []string{"allow-list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := &copilot.Token{Value: "tid=secret-value", APIURL: tt.apiURL}
			c := copilot.NewClient(copilot.ClientConfig{HTTPClient: &http.Client{Transport: &countingTransport{}},
				Tokens: staticToken(tok), BaseURL: tt.base, AllowedHosts: tt.allowed})
			got, err := c.BaseURL(tok)
			if tt.wantErrs == nil {
				if err != nil || got != tt.want {
					t.Fatalf("BaseURL = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var hna *copilot.HostNotAllowedError
			if !errors.As(err, &hna) {
				t.Fatalf("BaseURL = %q, %v; want *HostNotAllowedError", got, err)
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error contains the token: %q", err)
			}
		})
	}
}

func TestClientRefusesDisallowedEndpoint(t *testing.T) {
	t.Parallel()
	for _, api := range []string{"https://evil.example.com", "http://api.githubcopilot.com"} {
		rt := &countingTransport{}
		c := copilot.NewClient(copilot.ClientConfig{HTTPClient: &http.Client{Transport: rt},
			Tokens: staticToken(&copilot.Token{Value: "tid=secret", APIURL: api})})
		_, err := c.Do(context.Background(), &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody)})
		var hna *copilot.HostNotAllowedError
		if !errors.As(err, &hna) || hna.URL != api {
			t.Fatalf("%s: Do error = %v", api, err)
		}
		if rt.n.Load() != 0 {
			t.Fatalf("%s: the token was sent to a refused host", api)
		}
	}
}

func TestClientUsesAllowedEndpointFromToken(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.Path + " " + r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(srv.Close)
	hc := srv.Client()
	t.Cleanup(hc.CloseIdleConnections)
	c := copilot.NewClient(copilot.ClientConfig{HTTPClient: hc, AllowedHosts: []string{"127.0.0.1"},
		Tokens: staticToken(&copilot.Token{Value: "tid=ok", APIURL: srv.URL + "/"})})
	resp, _ := doRead(t, c, &copilot.Request{Path: "/models"})
	if resp.StatusCode != http.StatusOK || got.Load() != "/models Bearer tid=ok" {
		t.Fatalf("status %d, upstream saw %v", resp.StatusCode, got.Load())
	}
}

func TestClientStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetStream(3, 0)
	s.SetChatFault(copilottest.Fault{StallAfter: 2, StallFor: time.Minute})
	const idle = 200 * time.Millisecond
	st := newStack(t, s, func(c *copilot.ClientConfig) { c.StreamIdleTimeout = idle })

	resp, err := st.client.Do(context.Background(), &copilot.Request{Path: "/chat/completions", Body: []byte(streamBody), Accept: "text/event-stream"})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var events int
	var lastData time.Time
	for {
		line, err := br.ReadString('\n')
		if strings.HasPrefix(line, "data: ") {
			events++
			lastData = time.Now()
		}
		if err != nil {
			var ite *copilot.IdleTimeoutError
			if !errors.As(err, &ite) {
				t.Fatalf("read error %v (%T), want *IdleTimeoutError", err, err)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatal("idle error is not a timeout net.Error")
			}
			if err.Error() != "upstream sent nothing for 200ms (stream idle timeout)" {
				t.Fatalf("error text %q", err)
			}
			break
		}
	}
	if events != 2 {
		t.Fatalf("%d events before the stall, want 2", events)
	}
	if waited := time.Since(lastData); waited < idle {
		t.Fatalf("idle error after %v of silence, want >= %v", waited, idle)
	}
	select {
	case ci := <-s.Canceled():
		if ci.Path != "/chat/completions" {
			t.Fatalf("cancelled %s", ci.Path)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled by the idle timeout")
	}
	// The error sticks.
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.As(err, new(*copilot.IdleTimeoutError)) {
		t.Fatalf("second Read error %v", err)
	}
}

func TestClientIdleTimeoutBeforeFirstRead(t *testing.T) {
	t.Parallel()
	canceled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // headers, then silence
		close(canceled)
	}))
	t.Cleanup(srv.Close)
	c := copilot.NewClient(copilot.ClientConfig{HTTPClient: testHTTPClient(t), BaseURL: srv.URL, StreamIdleTimeout: 100 * time.Millisecond,
		Tokens: staticToken(&copilot.Token{Value: "v", ExpiresAt: time.Now().Add(time.Hour)})})
	resp, err := c.Do(context.Background(), &copilot.Request{Path: "/chat/completions", Body: []byte(streamBody)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	select {
	case <-canceled: // the timer ran although nobody read
	case <-time.After(5 * time.Second):
		t.Fatal("a body nobody reads was never cancelled")
	}
	if _, err := resp.Body.Read(make([]byte, 16)); !errors.As(err, new(*copilot.IdleTimeoutError)) {
		t.Fatalf("Read error %v, want *IdleTimeoutError", err)
	}
}

func TestClientIdleTimeoutIgnoresFlowingStreamAndSlowReader(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetStream(4, 30*time.Millisecond) // spacing well under the idle timeout
	const idle = 250 * time.Millisecond
	st := newStack(t, s, func(c *copilot.ClientConfig) { c.StreamIdleTimeout = idle })
	resp, err := st.client.Do(context.Background(), &copilot.Request{Path: "/chat/completions", Body: []byte(streamBody)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	// The caller's own pace between reads is not upstream silence.
	time.Sleep(2 * idle)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("stream cut: %v", err)
	}
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("incomplete stream: %q", rest)
	}
	select {
	case ci := <-s.Canceled():
		t.Fatalf("upstream request cancelled: %v", ci)
	default:
	}
}

func TestClientParentContextCancel(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{StallAfter: 1, StallFor: time.Minute})
	st := newStack(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := st.client.Do(ctx, &copilot.Request{Path: "/chat/completions", Body: []byte(streamBody)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.ReadAll(br)
	if err == nil || errors.As(err, new(*copilot.IdleTimeoutError)) {
		t.Fatalf("after the caller cancelled: %v, want a cancellation error", err)
	}
	select {
	case <-s.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("upstream not cancelled")
	}
}

func TestNewTransportDefaults(t *testing.T) {
	t.Parallel()
	tr := copilot.NewTransport(copilot.TransportConfig{})
	if tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 10*time.Minute ||
		tr.IdleConnTimeout != 90*time.Second || tr.MaxIdleConnsPerHost != 256 || !tr.ForceAttemptHTTP2 ||
		tr.MaxConnsPerHost != 0 || tr.Proxy == nil || tr.DialContext == nil {
		t.Fatalf("defaults: %+v", tr)
	}
	tr = copilot.NewTransport(copilot.TransportConfig{ResponseHeaderTimeout: time.Second, MaxIdleConnsPerHost: 3, MaxConnsPerHost: 7})
	if tr.ResponseHeaderTimeout != time.Second || tr.MaxIdleConnsPerHost != 3 || tr.MaxConnsPerHost != 7 {
		t.Fatalf("overrides: %+v", tr)
	}
}

func TestClientResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{Hang: true})
	tr := copilot.NewTransport(copilot.TransportConfig{ResponseHeaderTimeout: 100 * time.Millisecond})
	t.Cleanup(tr.CloseIdleConnections)
	st := newStack(t, s, func(c *copilot.ClientConfig) { c.HTTPClient = &http.Client{Transport: tr} })
	_, err := st.client.Do(context.Background(), &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody)})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Do = %v, want a timeout", err)
	}
}

func TestNewClientWarnsAboutClientTimeout(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	copilot.NewClient(copilot.ClientConfig{HTTPClient: &http.Client{Timeout: time.Second}, Tokens: staticToken(nil), Logger: zerolog.New(&logs)})
	if len(logs.lines(`"level":"warn"`, "Timeout")) != 1 {
		t.Fatalf("no warning: %s", logs.String())
	}
}

// The response keeps its request for as long as its body is read (a whole
// stream): the request must not keep the request body's bytes alive, yet the
// upstream gets the body with its Content-Length, and an empty body is sent
// as one.
func TestClientRequestBodyReleased(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	resp, _ := doRead(t, st.client, &copilot.Request{Path: "/chat/completions", Body: []byte(chatBody)})
	if resp.Request.ContentLength != int64(len(chatBody)) {
		t.Fatalf("ContentLength %d, want %d", resp.Request.ContentLength, len(chatBody))
	}
	if _, err := resp.Request.GetBody(); err == nil {
		t.Fatal("GetBody still returns the body after Do returned")
	}
	reqs := s.RequestsTo("/chat/completions")
	if len(reqs) != 1 || string(reqs[0].Body) != chatBody || reqs[0].Header.Get("Content-Length") != strconv.Itoa(len(chatBody)) {
		t.Fatalf("upstream got %d requests; body %q, Content-Length %q", len(reqs), reqs[0].Body, reqs[0].Header.Get("Content-Length"))
	}
}
