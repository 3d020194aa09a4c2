package copilot_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

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
	tr     *copilot.Transport
	client *http.Client
	logs   *logBuffer
}

// newStack wires the real Auth, TokenManager and Transport against the fake,
// with the fake as the explicit Copilot base URL (Endpoint.BaseURL). The
// fake's own endpoints.api is http://127.0.0.1:PORT, which the policy would
// refuse: every request of a stack reaching the fake shows that an explicit
// BaseURL overrides the token's endpoint.
func newStack(t *testing.T, s *copilottest.Server, edit func(*copilot.Transport)) *stack {
	t.Helper()
	st := &stack{s: s, logs: &logBuffer{}}
	log := zerolog.New(st.logs).Level(zerolog.DebugLevel)
	auth := copilot.NewAuth(testHTTPClient(t), s.URL(), copilottest.GitHubToken, copilot.DefaultEditor())
	st.tokens = copilot.NewTokenManager(copilot.TokenManagerConfig{Exchange: auth.Exchange, Logger: log})
	st.tokens.Start()
	t.Cleanup(st.tokens.Close)
	st.tr = &copilot.Transport{
		Source:   st.tokens,
		Base:     copilot.NewBaseTransport(copilot.BaseTransportConfig{}),
		Endpoint: copilot.Endpoint{BaseURL: s.URL()},
		Logger:   log,
	}
	if edit != nil {
		edit(st.tr)
	}
	st.client = copilot.NewClient(st.tr)
	t.Cleanup(func() {
		st.tr.CloseIdleConnections()
		checkNoSecrets(t, st.logs.String(), s.IssuedTokens()...)
	})
	return st
}

// checkNoSecrets fails the test if text holds a Copilot token of toks or the
// fake's GitHub token.
func checkNoSecrets(t *testing.T, text string, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		if strings.Contains(text, tok) {
			t.Errorf("a Copilot token leaked into the logs")
		}
	}
	if strings.Contains(text, copilottest.GitHubToken) {
		t.Errorf("the GitHub token leaked into the logs")
	}
}

// newReq builds a request to copilot.DefaultBaseURL+path, as the gateway
// does: a body is replayable (GetBody is set) and hdr are name, value pairs.
func newReq(t *testing.T, ctx context.Context, method, path, body string, hdr ...string) *http.Request {
	t.Helper()
	return newReqTo(t, ctx, method, copilot.DefaultBaseURL+path, body, hdr...)
}

func newReqTo(t *testing.T, ctx context.Context, method, url, body string, hdr ...string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// chatReq is a POST /chat/completions with a JSON body.
func chatReq(t *testing.T, ctx context.Context, body string, hdr ...string) *http.Request {
	t.Helper()
	return newReq(t, ctx, http.MethodPost, "/chat/completions", body, append([]string{"Content-Type", "application/json"}, hdr...)...)
}

func doRead(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
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

func TestTransportHeaders(t *testing.T) {
	t.Parallel()
	// Go's transport adds these itself; anything else must come from the
	// Transport or the caller.
	allowed := []string{"Accept", "Accept-Encoding", "Authorization", "Content-Length", "Content-Type",
		"Copilot-Integration-Id", "Copilot-Vision-Request", "Editor-Plugin-Version", "Editor-Version",
		"Openai-Intent", "User-Agent", "X-Github-Api-Version", "X-Initiator", "X-Request-Id"}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		hdr        []string // set by the caller
		viaBaseURL bool     // address the fake's URL (Endpoint.BaseURL) rather than DefaultBaseURL
		wantInit   string
		wantVis    bool
		wantAcc    string
		wantReqID  string // "" means a fresh UUID
	}{
		{name: "user with image", method: http.MethodPost, path: "/chat/completions", body: chatBody,
			hdr:      []string{"Content-Type", "application/json", copilot.HeaderInitiator, "user", copilot.HeaderVision, "true"},
			wantInit: "user", wantVis: true, wantAcc: "application/json"},
		{name: "agent without image", method: http.MethodPost, path: "/chat/completions", body: chatBody,
			hdr:      []string{"Content-Type", "application/json", copilot.HeaderInitiator, "agent"},
			wantInit: "agent", wantAcc: "application/json"},
		{name: "no initiator, stream accept, given id", method: http.MethodPost, path: "/chat/completions", body: chatBody,
			hdr:     []string{"Content-Type", "application/json", "Accept", "text/event-stream", copilot.HeaderRequestID, "req-123"},
			wantAcc: "text/event-stream", wantReqID: "req-123"},
		{name: "models GET", method: http.MethodGet, path: "/models", wantAcc: "application/json"},
		{name: "addressed to the configured BaseURL", method: http.MethodGet, path: "/models", viaBaseURL: true, wantAcc: "application/json"},
		{name: "the caller's Authorization is replaced", method: http.MethodGet, path: "/models",
			hdr: []string{"Authorization", "Bearer sk-client-key"}, wantAcc: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := copilottest.New(t)
			st := newStack(t, s, func(tr *copilot.Transport) {
				tr.Editor = copilot.Editor{EditorVersion: "vscode/2.0.0", APIVersion: "2030-01-01"}
			})
			url := copilot.DefaultBaseURL + tt.path
			if tt.viaBaseURL {
				url = s.URL() + tt.path
			}
			req := newReqTo(t, t.Context(), tt.method, url, tt.body, tt.hdr...)
			callerHeader, callerURL := req.Header.Clone(), req.URL.String()
			resp, _ := doRead(t, st.client, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			// RoundTrip never modifies the caller's request.
			if !headersEqual(req.Header, callerHeader) || req.URL.String() != callerURL {
				t.Errorf("the caller's request was modified: %v %s", req.Header, req.URL)
			}
			reqs := s.RequestsTo(tt.path)
			if len(reqs) != 1 {
				t.Fatalf("%d requests to %s", len(reqs), tt.path)
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
			if tt.body != "" {
				want["Content-Type"] = "application/json"
				want["Content-Length"] = strconv.Itoa(len(tt.body))
				if string(r.Body) != tt.body || r.Method != http.MethodPost {
					t.Errorf("%s body %q", r.Method, r.Body)
				}
			} else {
				want["Content-Type"] = ""
				if r.Method != http.MethodGet || len(r.Body) != 0 {
					t.Errorf("%s body %q, want GET without a body", r.Method, r.Body)
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
			if len(h.Values("Authorization")) != 1 || strings.Contains(h.Get("Authorization"), "sk-client-key") {
				t.Errorf("Authorization %q: the caller's credentials reached Copilot", h.Values("Authorization"))
			}
			for name := range h {
				if !slices.Contains(allowed, name) {
					t.Errorf("unexpected header %s: %q", name, h.Values(name))
				}
			}
		})
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestTransportFreshRequestIDs(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	for range 3 {
		doRead(t, st.client, newReq(t, t.Context(), http.MethodGet, "/models", ""))
	}
	seen := map[string]bool{}
	for _, r := range s.RequestsTo("/models") {
		id := r.Header.Get("X-Request-Id")
		if !uuidRE.MatchString(id) {
			t.Errorf("X-Request-Id %q is not a UUID", id)
		}
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Fatalf("request ids not fresh: %v", seen)
	}
}

func TestTransportRetriesOnceAfter401(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		hdr    []string
		wantID string // "" means a fresh UUID, the same for the retry
	}{
		{"fresh request id", []string{copilot.HeaderInitiator, "user"}, ""},
		{"caller's request id", []string{copilot.HeaderInitiator, "user", copilot.HeaderRequestID, "req-7"}, "req-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := copilottest.New(t)
			st := newStack(t, s, nil)
			doRead(t, st.client, chatReq(t, t.Context(), chatBody))

			s.RevokeTokens() // the Copilot token dies mid-life
			req := chatReq(t, t.Context(), chatBody, tt.hdr...)
			getBody := req.GetBody
			var replays atomic.Int32
			req.GetBody = func() (io.ReadCloser, error) {
				replays.Add(1)
				return getBody()
			}
			resp, body := doRead(t, st.client, req)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, copilottest.DefaultChatContent) {
				t.Fatalf("after a 401: status %d body %q", resp.StatusCode, body)
			}
			if n := s.ExchangeCount(); n != 2 {
				t.Fatalf("%d exchanges, want 2 (one re-exchange)", n)
			}
			if n := replays.Load(); n < 1 { // 1, unless net/http rewound a body on a dead connection
				t.Fatalf("GetBody called %d times, want it for the retry", n)
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
			if string(rejected.Body) != chatBody || string(retried.Body) != chatBody ||
				retried.Header.Get("Content-Length") != strconv.Itoa(len(chatBody)) {
				t.Fatalf("the retry did not resend the body: %q then %q", rejected.Body, retried.Body)
			}
			id := retried.Header.Get("X-Request-Id")
			if id != rejected.Header.Get("X-Request-Id") || (tt.wantID != "" && id != tt.wantID) || (tt.wantID == "" && !uuidRE.MatchString(id)) {
				t.Fatalf("X-Request-Id %q then %q: the retry is not the same request", rejected.Header.Get("X-Request-Id"), id)
			}
			if retried.Header.Get("X-Initiator") != "user" || retried.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("the retry lost the caller's headers: %v", retried.Header)
			}
			if len(st.logs.lines("retrying once with a new token", `"request_id":"`+id+`"`)) != 1 {
				t.Fatalf("the retry was not logged once: %s", st.logs.String())
			}
		})
	}
}

func TestTransportConcurrent401sOneReexchange(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	doRead(t, st.client, newReq(t, t.Context(), http.MethodGet, "/models", ""))
	s.RevokeTokens()

	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := st.client.Do(chatReq(t, t.Context(), chatBody))
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
	for _, r := range s.RequestsTo("/chat/completions") {
		if string(r.Body) != chatBody {
			t.Fatalf("a chat request (first try or retry) lacks the body: %q", r.Body)
		}
	}
}

func TestTransportSecond401IsReturned(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{Status: http.StatusUnauthorized})
	st := newStack(t, s, nil)
	resp, body := doRead(t, st.client, chatReq(t, t.Context(), chatBody))
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

// A 401 for a request whose body cannot be replayed is the answer: no
// second request with an empty or partial body.
func TestTransport401WithoutReplayableBody(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{Status: http.StatusUnauthorized})
	st := newStack(t, s, nil)
	req := chatReq(t, t.Context(), chatBody)
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("body already released") }
	resp, body := doRead(t, st.client, req)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unauthorized") {
		t.Fatalf("status %d body %q; want the 401", resp.StatusCode, body)
	}
	if n := len(s.RequestsTo("/chat/completions")); n != 1 {
		t.Fatalf("%d chat requests, want 1", n)
	}
}

// closeTracker is a request body that records Close.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error {
	c.closed.Store(true)
	return nil
}

func TestTransportRefusesBodyWithoutGetBody(t *testing.T) {
	t.Parallel()
	rt := &countingTransport{}
	tokens := staticToken(&copilot.Token{Value: "tid=secret", ExpiresAt: time.Now().Add(time.Hour)})
	tr := &copilot.Transport{Source: tokens, Base: rt}
	body := &closeTracker{Reader: strings.NewReader(chatBody)}
	req := newReq(t, t.Context(), http.MethodPost, "/chat/completions", "")
	req.Body, req.ContentLength = body, int64(len(chatBody))
	resp, err := tr.RoundTrip(req)
	if resp != nil || err == nil || !strings.Contains(err.Error(), "GetBody") {
		t.Fatalf("RoundTrip = %v, %v; want an error about GetBody", resp, err)
	}
	if !body.closed.Load() {
		t.Error("the request body was not closed")
	}
	if rt.n.Load() != 0 {
		t.Error("a request was sent")
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

func (s *stubTokens) invalidations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.invalidated)
}

func staticToken(tok *copilot.Token) *stubTokens {
	return &stubTokens{next: func(int) (*copilot.Token, error) { return tok, nil }}
}

// countingTransport counts round trips and fails them.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, errors.New("no network in this test")
}

// recordingTransport answers 200 with an empty JSON list and records the
// requests it was given.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"object":"list","data":[]}`)), Request: req}, nil
}

func (r *recordingTransport) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func TestTransportTokenErrorsAreUnavailable(t *testing.T) {
	t.Parallel()
	unavailable := &copilot.UnavailableError{Cause: &copilot.ExchangeError{Kind: copilot.KindBadToken, Status: 401}}
	plain := errors.New("token source broken")
	tests := []struct {
		name      string
		err       error
		wantCause error
	}{
		{"an UnavailableError is returned as is", unavailable, unavailable.Cause},
		{"another error becomes the cause of one", plain, plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := &countingTransport{}
			tr := &copilot.Transport{Base: rt, Source: &stubTokens{next: func(int) (*copilot.Token, error) { return nil, tt.err }}}
			// Directly and through a client.
			body := &closeTracker{Reader: strings.NewReader(chatBody)}
			req := chatReq(t, t.Context(), chatBody)
			req.Body = body
			resp, err := tr.RoundTrip(req)
			var ue *copilot.UnavailableError
			if resp != nil || !errors.As(err, &ue) || ue.Cause != tt.wantCause {
				t.Fatalf("RoundTrip = %v, %v; want an *UnavailableError caused by %v", resp, err, tt.wantCause)
			}
			if tt.err == unavailable && err != unavailable {
				t.Fatalf("RoundTrip = %v; want the token error as is", err)
			}
			if !body.closed.Load() {
				t.Error("the request body was not closed")
			}
			_, err = copilot.NewClient(tr).Do(chatReq(t, t.Context(), chatBody))
			if !errors.As(err, &ue) || ue.Cause != tt.wantCause || !errors.Is(err, tt.wantCause) {
				t.Fatalf("Do = %v; want an *UnavailableError caused by %v", err, tt.wantCause)
			}
			if rt.n.Load() != 0 {
				t.Fatal("a request was sent without a token")
			}
		})
	}
}

func TestTransportTokenErrorOnRetry(t *testing.T) {
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
	tr := &copilot.Transport{Base: testHTTPClient(t).Transport, Source: tokens, Endpoint: copilot.Endpoint{BaseURL: srv.URL}}
	resp, err := copilot.NewClient(tr).Do(newReq(t, t.Context(), http.MethodGet, "/models", ""))
	var ue *copilot.UnavailableError
	if resp != nil || !errors.Is(err, unavailable) || !errors.As(err, &ue) {
		t.Fatalf("Do = %v, %v", resp, err)
	}
	if got := tokens.invalidations(); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("invalidated %q", got)
	}
}

// The token's endpoints.api is used when the policy allows it; the request
// keeps its path and query. The network is redirected to a local TLS server
// so the real http.Transport, TLS included, sends it.
func TestTransportUsesAllowedEndpointFromToken(t *testing.T) {
	t.Parallel()
	type seen struct{ host, uri, auth string }
	got := make(chan seen, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.RequestURI, r.Header.Get("Authorization")}
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name     string
		endpoint copilot.Endpoint
		apiURL   string
		wantHost string
	}{
		{"individual", copilot.Endpoint{}, "https://api.individual.githubcopilot.com/", "api.individual.githubcopilot.com"},
		{"explicit port 443", copilot.Endpoint{}, "https://api.business.githubcopilot.com:443", "api.business.githubcopilot.com:443"},
		{"GHE data residency", copilot.EndpointFor("https://api.example.ghe.com", ""), "https://copilot-api.example.ghe.com", "copilot-api.example.ghe.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := &http.Transport{
				DialContext:     dialTo(srv.Listener.Addr().String()),
				TLSClientConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"},
			}
			t.Cleanup(base.CloseIdleConnections)
			tr := &copilot.Transport{Base: base, Endpoint: tt.endpoint,
				Source: staticToken(&copilot.Token{Value: "tid=ok", APIURL: tt.apiURL})}
			resp, _ := doRead(t, copilot.NewClient(tr), newReq(t, t.Context(), http.MethodGet, "/models?x=1", ""))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if g := <-got; g != (seen{tt.wantHost, "/models?x=1", "Bearer tid=ok"}) {
				t.Fatalf("upstream saw %+v", g)
			}
			if u := resp.Request.URL.String(); !strings.HasPrefix(u, "https://"+tt.wantHost+"/models?x=1") {
				t.Fatalf("sent to %s", u)
			}
		})
	}
}

// dialTo is a DialContext sending every connection to addr.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

func TestTransportRoutesThroughEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint copilot.Endpoint
		apiURL   string // the token's endpoints.api
		url      string // the request's URL
		want     string // where it is sent
	}{
		{"default when the token names none", copilot.Endpoint{}, "", copilot.DefaultBaseURL + "/chat/completions",
			"https://api.githubcopilot.com/chat/completions"},
		{"token endpoint, path and query kept", copilot.Endpoint{}, "https://api.business.githubcopilot.com", copilot.DefaultBaseURL + "/models?a=b",
			"https://api.business.githubcopilot.com/models?a=b"},
		{"explicit BaseURL overrides the token", copilot.Endpoint{BaseURL: "http://127.0.0.1:9/prefix/"}, "https://evil.example.com", copilot.DefaultBaseURL + "/models",
			"http://127.0.0.1:9/prefix/models"},
		{"addressed to the explicit BaseURL", copilot.Endpoint{BaseURL: "http://127.0.0.1:9/prefix"}, "", "http://127.0.0.1:9/prefix/models",
			"http://127.0.0.1:9/prefix/models"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := &recordingTransport{}
			tr := &copilot.Transport{Base: rt, Endpoint: tt.endpoint, Source: staticToken(&copilot.Token{Value: "tid=x", APIURL: tt.apiURL})}
			req := newReqTo(t, t.Context(), http.MethodPost, tt.url, chatBody)
			resp, _ := doRead(t, copilot.NewClient(tr), req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			reqs := rt.requests()
			if len(reqs) != 1 || reqs[0].URL.String() != tt.want || reqs[0].Host != "" {
				t.Fatalf("sent to %v", reqs)
			}
			if req.URL.String() != tt.url {
				t.Fatalf("the caller's URL became %s", req.URL)
			}
		})
	}
}

func TestTransportRefusesDisallowedEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint copilot.Endpoint
		apiURL   string
		url      string
		wantURL  string // HostNotAllowedError.URL
		wantText string
	}{
		{"evil endpoints.api", copilot.Endpoint{}, "https://evil.example.com", copilot.DefaultBaseURL + "/chat/completions",
			"https://evil.example.com", "allow-list"},
		{"http endpoints.api", copilot.Endpoint{}, "http://api.githubcopilot.com", copilot.DefaultBaseURL + "/chat/completions",
			"http://api.githubcopilot.com", "not https"},
		{"endpoints.api on another port", copilot.Endpoint{}, "https://api.githubcopilot.com:8443", copilot.DefaultBaseURL + "/chat/completions",
			"https://api.githubcopilot.com:8443", "port 8443"},
		{"endpoints.api with user info", copilot.Endpoint{}, "https://user:pw@api.githubcopilot.com", copilot.DefaultBaseURL + "/chat/completions",
			"https://api.githubcopilot.com", "user info"},
		{"GHE host without its policy", copilot.Endpoint{}, "https://copilot-api.example.ghe.com", copilot.DefaultBaseURL + "/chat/completions",
			"https://copilot-api.example.ghe.com", "allow-list"},
		{"request addressed elsewhere", copilot.Endpoint{}, "", "https://evil.example/chat/completions",
			"https://evil.example/chat/completions", "allow-list"},
		{"request with user info", copilot.Endpoint{}, "", "https://user:pw@api.githubcopilot.com/chat/completions",
			"https://api.githubcopilot.com/chat/completions", "user info"},
		{"the fake's own http endpoint without an explicit BaseURL", copilot.Endpoint{}, "http://127.0.0.1:9", copilot.DefaultBaseURL + "/chat/completions",
			"http://127.0.0.1:9", "not https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := &countingTransport{}
			var logs logBuffer
			tr := &copilot.Transport{Base: rt, Endpoint: tt.endpoint, Logger: zerolog.New(&logs).Level(zerolog.DebugLevel),
				Source: staticToken(&copilot.Token{Value: "tid=secret-value", APIURL: tt.apiURL})}
			req := newReqTo(t, t.Context(), http.MethodPost, tt.url, chatBody)
			_, err := copilot.NewClient(tr).Do(req)
			var ue *copilot.UnavailableError
			var hna *copilot.HostNotAllowedError
			if !errors.As(err, &ue) || !errors.As(ue.Cause, &hna) || hna.URL != tt.wantURL || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Do error = %v; want an *UnavailableError caused by refusing %q (%s)", err, tt.wantURL, tt.wantText)
			}
			if rt.n.Load() != 0 {
				t.Fatal("the token was sent to a refused host")
			}
			for _, secret := range []string{"secret-value", "pw", chatBody} {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("the error or the logs hold %q: %v; %s", secret, err, logs.String())
				}
			}
		})
	}
}

func TestTransportStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetStream(3, 0)
	s.SetChatFault(copilottest.Fault{StallAfter: 2, StallFor: time.Minute})
	const idle = 200 * time.Millisecond
	st := newStack(t, s, func(tr *copilot.Transport) { tr.IdleTimeout = idle })

	resp, err := st.client.Do(chatReq(t, t.Context(), streamBody, "Accept", "text/event-stream"))
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

func TestTransportIdleTimeoutBeforeFirstRead(t *testing.T) {
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
	tr := &copilot.Transport{Base: testHTTPClient(t).Transport, Endpoint: copilot.Endpoint{BaseURL: srv.URL}, IdleTimeout: 100 * time.Millisecond,
		Source: staticToken(&copilot.Token{Value: "v", ExpiresAt: time.Now().Add(time.Hour)})}
	resp, err := copilot.NewClient(tr).Do(chatReq(t, t.Context(), streamBody))
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

func TestTransportParentContextCancel(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{StallAfter: 1, StallFor: time.Minute})
	st := newStack(t, s, nil)
	ctx, cancel := context.WithCancel(t.Context())
	resp, err := st.client.Do(chatReq(t, ctx, streamBody))
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

func TestNewBaseTransportDefaults(t *testing.T) {
	t.Parallel()
	tr := copilot.NewBaseTransport(copilot.BaseTransportConfig{})
	if tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 10*time.Minute ||
		tr.IdleConnTimeout != 90*time.Second || tr.MaxIdleConnsPerHost != 256 || !tr.ForceAttemptHTTP2 ||
		tr.MaxConnsPerHost != 0 || tr.MaxIdleConns != 0 || tr.Proxy == nil || tr.DialContext == nil {
		t.Fatalf("defaults: %+v", tr)
	}
	tr = copilot.NewBaseTransport(copilot.BaseTransportConfig{ResponseHeaderTimeout: time.Second, TLSHandshakeTimeout: 2 * time.Second,
		IdleConnTimeout: 3 * time.Second, MaxIdleConnsPerHost: 3, MaxConnsPerHost: 7})
	if tr.ResponseHeaderTimeout != time.Second || tr.TLSHandshakeTimeout != 2*time.Second || tr.IdleConnTimeout != 3*time.Second ||
		tr.MaxIdleConnsPerHost != 3 || tr.MaxConnsPerHost != 7 {
		t.Fatalf("overrides: %+v", tr)
	}
	tr = copilot.NewBaseTransport(copilot.BaseTransportConfig{ResponseHeaderTimeout: -1, MaxIdleConnsPerHost: -1, MaxConnsPerHost: -1})
	if tr.ResponseHeaderTimeout != 10*time.Minute || tr.MaxIdleConnsPerHost != 256 || tr.MaxConnsPerHost != 0 {
		t.Fatalf("negative values: %+v", tr)
	}
}

func TestTransportResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetChatFault(copilottest.Fault{Hang: true})
	st := newStack(t, s, func(tr *copilot.Transport) {
		tr.Base = copilot.NewBaseTransport(copilot.BaseTransportConfig{ResponseHeaderTimeout: 100 * time.Millisecond})
	})
	_, err := st.client.Do(chatReq(t, t.Context(), chatBody))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Do = %v, want a timeout", err)
	}
}

// NewClient has no Timeout (it would cut long streams; the old
// ClientConfig warned about one, NewClient cannot be given one), sends
// through the transport, and refuses redirects.
func TestNewClient(t *testing.T) {
	t.Parallel()
	tr := &copilot.Transport{Source: staticToken(nil)}
	c := copilot.NewClient(tr)
	if c.Timeout != 0 || c.Transport != tr || c.CheckRedirect == nil || c.Jar != nil {
		t.Fatalf("NewClient = %+v", c)
	}
	next := httptest.NewRequest(http.MethodGet, "https://elsewhere.example/", nil)
	next.Response = &http.Response{StatusCode: http.StatusFound}
	var re *copilot.RedirectError
	if err := c.CheckRedirect(next, []*http.Request{httptest.NewRequest(http.MethodGet, copilot.DefaultBaseURL, nil)}); !errors.As(err, &re) || re.Status != http.StatusFound {
		t.Fatalf("CheckRedirect = %v, want a *RedirectError for 302", err)
	}
	if strings.Contains(re.Error(), "elsewhere") {
		t.Fatalf("the redirect error names the Location: %q", re)
	}
}

// closeIdleRecorder records CloseIdleConnections.
type closeIdleRecorder struct {
	countingTransport
	closed atomic.Int32
}

func (c *closeIdleRecorder) CloseIdleConnections() { c.closed.Add(1) }

func TestTransportCloseIdleConnections(t *testing.T) {
	t.Parallel()
	base := &closeIdleRecorder{}
	tr := &copilot.Transport{Source: staticToken(nil), Base: base}
	copilot.NewClient(tr).CloseIdleConnections()
	if base.closed.Load() != 1 {
		t.Fatal("CloseIdleConnections did not reach the base transport")
	}
	// A base without the method is fine.
	(&copilot.Transport{Source: staticToken(nil), Base: &countingTransport{}}).CloseIdleConnections()
}

func TestTransportRecordsQuota(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	s.SetQuotaHeader("premium_interactions", "ent=300&ov=0.0&ovPerm=false&rem=25.5&rst=2026-12-01T00%3A00%3A00Z")
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var tracker copilot.QuotaTracker
	st := newStack(t, s, func(tr *copilot.Transport) {
		tr.Quota = &tracker
		tr.Now = func() time.Time { return at }
	})
	doRead(t, st.client, newReq(t, t.Context(), http.MethodGet, "/models", "")) // no quota headers on /models
	if snaps, _ := tracker.Snapshot(); len(snaps) != 0 {
		t.Fatalf("recorded %v from a response without quota headers", snaps)
	}
	doRead(t, st.client, chatReq(t, t.Context(), chatBody))
	snaps, observed := tracker.Snapshot()
	p, c := snaps["premium_interactions"], snaps["chat"]
	if !observed.Equal(at) || p.PercentRemaining != 25.5 || p.Entitlement != 300 || c.PercentRemaining != 100 ||
		!p.ResetAt.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("snapshots %+v at %v", snaps, observed)
	}
	// Without a tracker nothing fails.
	st2 := newStack(t, s, nil)
	doRead(t, st2.client, chatReq(t, t.Context(), chatBody))
}

// releasingBody is how a caller keeps a request body from outliving the
// exchange: the body drops its bytes once read, and GetBody works until
// release is called (after Do returns).
func releasingBody(data []byte) (body io.ReadCloser, getBody func() (io.ReadCloser, error), release func()) {
	var mu sync.Mutex
	getBody = func() (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		if data == nil {
			return nil, errors.New("request body already released")
		}
		return &onceBody{b: data}, nil
	}
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		data = nil
	}
	return &onceBody{b: data}, getBody, release
}

// onceBody is a body read once from a byte slice, dropping its reference to
// the slice when the whole of it has been read.
type onceBody struct {
	mu sync.Mutex
	b  []byte
}

func (o *onceBody) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.b) == 0 {
		o.b = nil
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	if len(o.b) == 0 {
		o.b = nil
	}
	return n, nil
}

func (o *onceBody) Close() error { return nil }

// The response keeps its request (the transport's clone) for as long as its
// body is read, a whole stream: the clone must not keep the request body's
// bytes alive beyond what the caller's own Body and GetBody keep. With a
// caller that lets go of them once Do returns, they are collectable while
// the stream is still open, on the first try as after a 401 retry; the
// upstream still gets the body with its Content-Length.
func TestTransportRequestBodyNotRetained(t *testing.T) {
	t.Parallel()
	for _, retry := range []bool{false, true} {
		t.Run("retry="+strconv.FormatBool(retry), func(t *testing.T) {
			t.Parallel()
			s := copilottest.New(t)
			s.SetChatFault(copilottest.Fault{StallAfter: 1, StallFor: time.Minute})
			st := newStack(t, s, nil)
			if retry {
				doRead(t, st.client, newReq(t, t.Context(), http.MethodGet, "/models", ""))
				s.RevokeTokens()
			}

			const size = 1 << 20
			payload := new([size]byte)
			prefix := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"`
			suffix := `"}]}`
			copy(payload[:], prefix)
			for i := len(prefix); i < size-len(suffix); i++ {
				payload[i] = 'x'
			}
			copy(payload[size-len(suffix):], suffix)
			collected := weak.Make(payload)

			req := chatReq(t, t.Context(), "")
			body, getBody, release := releasingBody(payload[:])
			payload = nil
			req.Body, req.GetBody, req.ContentLength = body, getBody, size
			resp, err := st.client.Do(req)
			release()
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err != nil { // the stream is open, then stalls
				t.Fatal(err)
			}
			if resp.Request.ContentLength != size {
				t.Fatalf("ContentLength %d, want %d", resp.Request.ContentLength, size)
			}
			if _, err := resp.Request.GetBody(); err == nil {
				t.Fatal("the clone's GetBody still returns the body after the caller released it")
			}
			for i := 0; i < 5 && collected.Value() != nil; i++ {
				runtime.GC()
			}
			if collected.Value() != nil {
				t.Fatal("the request body is still reachable while the stream is read")
			}
			runtime.KeepAlive(resp)
			runtime.KeepAlive(req)

			reqs := s.RequestsTo("/chat/completions")
			last := reqs[len(reqs)-1]
			if want := map[bool]int{false: 1, true: 2}[retry]; len(reqs) != want {
				t.Fatalf("%d chat requests, want %d", len(reqs), want)
			}
			if len(last.Body) != size || last.Header.Get("Content-Length") != strconv.Itoa(size) {
				t.Fatalf("upstream got %d bytes, Content-Length %q", len(last.Body), last.Header.Get("Content-Length"))
			}
		})
	}
}

// TestTransportDebugLines: at debug level each call logs its request id,
// path, status and time to headers (never the token: newStack checks the
// logs); at info level it logs nothing, and works out none of it.
func TestTransportDebugLines(t *testing.T) {
	t.Parallel()
	s := copilottest.New(t)
	st := newStack(t, s, nil)
	doRead(t, st.client, newReq(t, t.Context(), http.MethodGet, "/models", "", "X-Request-Id", "req-debug-1"))
	logs := st.logs.String()
	for _, want := range []string{`"message":"copilot upstream response"`, `"request_id":"req-debug-1"`, `"path":"/models"`, `"status":200`, `"headers_after":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("debug logs lack %s:\n%s", want, logs)
		}
	}
	quiet := newStack(t, s, func(tr *copilot.Transport) { tr.Logger = tr.Logger.Level(zerolog.InfoLevel) })
	doRead(t, quiet.client, newReq(t, t.Context(), http.MethodGet, "/models", ""))
	if strings.Contains(quiet.logs.String(), "copilot upstream") {
		t.Errorf("info level logged an upstream call:\n%s", quiet.logs.String())
	}
}
