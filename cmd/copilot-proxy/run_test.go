package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"go.uber.org/goleak"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m)) // a PostgreSQL a test started stops first
}

// syncBuffer collects a process's stderr for assertions while run writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inProcess is a command run in-process by run until its context is
// cancelled: serve for testGateway, demo for demoGateway.
type inProcess struct {
	URL    string // http://127.0.0.1:PORT
	Logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

// startInProcess runs args through run on a free loopback port and waits
// until it listens. The wait is a backstop for a command that never starts,
// not a timing check.
func startInProcess(t *testing.T, args []string, getenv func(string) string, stdout io.Writer) *inProcess {
	t.Helper()
	p := &inProcess{Logs: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	listening := make(chan net.Addr, 1)
	ctx = context.WithValue(ctx, listenHookKey{}, func(a net.Addr) { listening <- a })
	go func() { p.done <- run(ctx, args, getenv, stdout, p.Logs) }()
	select {
	case a := <-listening:
		p.URL = "http://" + a.String()
	case err := <-p.done:
		cancel()
		t.Fatalf("%s exited early: %v\nlogs:\n%s", args[0], err, p.Logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("%s did not start; logs:\n%s", args[0], p.Logs.String())
	}
	p.client = &http.Client{Transport: &http.Transport{}}
	return p
}

// stop cancels run's context (as SIGTERM or Ctrl-C does) and checks it
// exits cleanly.
func (p *inProcess) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	p.client.CloseIdleConnections()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("run returned %v after shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("run did not return after its context was cancelled")
	}
}

// testGateway is a running `run serve` for a test.
type testGateway struct {
	*inProcess
	DB  string
	env map[string]string
}

// startGateway runs the real command in-process against the fake upstream
// on a free loopback port and waits until it listens.
func startGateway(t *testing.T, fake *copilottest.Server, extraEnv map[string]string, args ...string) *testGateway {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{
		"HOME":                          home,
		"XDG_CONFIG_HOME":               home + "/config",
		"COPILOT_PROXY_GITHUB_TOKEN":    copilottest.GitHubToken,
		"COPILOT_PROXY_GITHUB_API_URL":  fake.URL(),
		"COPILOT_PROXY_COPILOT_API_URL": fake.URL(),
		"COPILOT_PROXY_LOG_FORMAT":      "json",
		"COPILOT_PROXY_ADDR":            "127.0.0.1:0",
		"COPILOT_PROXY_DB":              home + "/data/copilot-proxy.db",
		// Most tests here are about the upstream side; the team tests
		// switch keys on by blanking this (empty counts as unset).
		"COPILOT_PROXY_NO_AUTH": "true",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	g := &testGateway{DB: env["COPILOT_PROXY_DB"], env: env}
	g.inProcess = startInProcess(t, append([]string{"serve"}, args...), envMap(env), io.Discard)
	t.Cleanup(func() { g.stop(t) })
	return g
}

func (g *testGateway) openai() *openai.Client {
	cfg := openai.DefaultConfig("sk-client-secret-not-forwarded")
	cfg.BaseURL = g.URL + "/v1"
	cfg.HTTPClient = g.client
	return openai.NewClientWithConfig(cfg)
}

func chatReq(content string) openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: content}},
	}
}

func TestEndToEndWithOpenAISDK(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	c := g.openai()
	ctx := context.Background()

	t.Run("list models", func(t *testing.T) {
		list, err := c.ListModels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Models) < 2 {
			t.Fatalf("want models, got %+v", list)
		}
		for _, m := range list.Models {
			if m.ID == "" || m.Object != "model" || m.OwnedBy == "" {
				t.Fatalf("model not in the OpenAI shape: %+v", m)
			}
		}
	})
	t.Run("retrieve model", func(t *testing.T) {
		m, err := c.GetModel(ctx, "gpt-4o")
		if err != nil || m.ID != "gpt-4o" {
			t.Fatalf("GetModel: %+v %v", m, err)
		}
		_, err = c.GetModel(ctx, "no-such-model")
		var apiErr *openai.APIError
		if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusNotFound {
			t.Fatalf("unknown model: want 404 APIError, got %v", err)
		}
	})
	t.Run("non-stream chat", func(t *testing.T) {
		resp, err := c.CreateChatCompletion(ctx, chatReq("hello"))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Usage.TotalTokens == 0 {
			t.Fatalf("unexpected response %+v", resp)
		}
	})
	t.Run("stream is not buffered", func(t *testing.T) {
		// The upstream sends two events, then pauses for 2 s before the rest.
		fake.SetChatFault(copilottest.Fault{StallAfter: 2, StallFor: 2 * time.Second, Count: 1})
		defer fake.ClearChatFault()
		req := chatReq("stream please")
		req.Stream = true
		s, err := c.CreateChatCompletionStream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var first time.Time
		var content strings.Builder
		for {
			chunk, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" && first.IsZero() {
				first = time.Now()
			}
			for _, ch := range chunk.Choices {
				content.WriteString(ch.Delta.Content)
			}
		}
		if first.IsZero() || content.Len() == 0 {
			t.Fatal("no content streamed")
		}
		// A buffering proxy would deliver the first chunk together with the
		// rest, after the pause; here it must arrive well before the end.
		if gap := time.Since(first); gap < 700*time.Millisecond {
			t.Fatalf("first chunk arrived only %v before the end of the stream: it was held back", gap)
		}
	})
	t.Run("tool calls pass through unchanged", func(t *testing.T) {
		fake.SetChatResponse(`{"id":"chatcmpl-tool","object":"chat.completion","created":1764412345,"model":"gpt-4o",` +
			`"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc","type":"function",` +
			`"function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"C\"}"}}]},"finish_reason":"tool_calls"}],` +
			`"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29}}`)
		defer fake.SetChatResponse("")
		req := chatReq("weather?")
		req.Tools = []openai.Tool{{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`),
		}}}
		resp, err := c.CreateChatCompletion(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		tc := resp.Choices[0].Message.ToolCalls
		if len(tc) != 1 || tc[0].ID != "call_abc" || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris","unit":"C"}` {
			t.Fatalf("tool call changed: %+v", tc)
		}
		// The tools reached the upstream byte for byte.
		reqs := fake.RequestsTo("/chat/completions")
		last := reqs[len(reqs)-1]
		if !bytes.Contains(last.Body, []byte(`"name":"get_weather"`)) || !bytes.Contains(last.Body, []byte(`"properties":{"city":{"type":"string"}}`)) {
			t.Fatalf("tools not forwarded: %s", last.Body)
		}
	})
	t.Run("upstream error is an APIError with the upstream message", func(t *testing.T) {
		fake.SetChatFault(copilottest.Fault{Status: 400, Count: 1,
			Body: `{"error":{"message":"The requested model is not supported.","type":"invalid_request_error","code":"model_not_supported","param":"model"}}`})
		defer fake.ClearChatFault()
		_, err := c.CreateChatCompletion(ctx, chatReq("x"))
		var apiErr *openai.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("want *openai.APIError, got %T %v", err, err)
		}
		if apiErr.HTTPStatusCode != 400 || apiErr.Message != "The requested model is not supported." {
			t.Fatalf("got %d %q", apiErr.HTTPStatusCode, apiErr.Message)
		}
	})
	t.Run("upstream 401 mid-life re-exchanges once", func(t *testing.T) {
		before := fake.ExchangeCount()
		fake.RevokeTokens()
		resp, err := c.CreateChatCompletion(ctx, chatReq("after revocation"))
		if err != nil {
			t.Fatalf("request after revocation failed: %v", err)
		}
		if len(resp.Choices) == 0 {
			t.Fatal("empty response")
		}
		if got := fake.ExchangeCount() - before; got != 1 {
			t.Fatalf("want exactly one re-exchange, got %d", got)
		}
	})
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	fake := copilottest.New(t)
	fake.SetStream(50, 200*time.Millisecond)
	g := startGateway(t, fake, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := chatReq("long story")
	req.Stream = true
	s, err := g.openai().CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	// Drain any cancellation left by earlier requests.
	for len(fake.Canceled()) > 0 {
		<-fake.Canceled()
	}
	cancel()
	s.Close()
	closed := time.Now()
	select {
	case ci := <-fake.Canceled():
		if d := ci.At.Sub(closed); d > 100*time.Millisecond {
			t.Fatalf("upstream request cancelled %v after the client left; want < 100ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request was not cancelled after the client disconnected")
	}
}

func TestUpstreamHeaders(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)

	post := func(body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer sk-client-secret")
		req.Header.Set("Copilot-Integration-Id", "client-spoofed")
		req.Header.Set("X-Custom", "leak")
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	lastChat := func() copilottest.Request {
		r := fake.RequestsTo("/chat/completions")
		return r[len(r)-1]
	}

	post(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	h := lastChat().Header
	for name, want := range map[string]string{
		"Copilot-Integration-Id": "vscode-chat",
		"Openai-Intent":          "conversation-panel",
		"X-Initiator":            "user",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"Editor-Version", "Editor-Plugin-Version", "User-Agent", "X-Github-Api-Version", "X-Request-Id"} {
		if h.Get(name) == "" {
			t.Errorf("missing %s upstream", name)
		}
	}
	if h.Get("Copilot-Vision-Request") != "" {
		t.Error("vision header sent without an image")
	}
	if got := h.Get("Authorization"); !strings.HasPrefix(got, "Bearer tid=") || strings.Contains(got, "sk-client-secret") {
		t.Errorf("upstream Authorization is not the Copilot token: %q", got)
	}
	if h.Get("X-Custom") != "" {
		t.Error("arbitrary client header forwarded")
	}

	post(`{"model":"gpt-4o","messages":[{"role":"user","content":"run it"},{"role":"assistant","content":"ok"},{"role":"tool","tool_call_id":"c1","content":"done"}]}`)
	if got := lastChat().Header.Get("X-Initiator"); got != "agent" {
		t.Errorf("X-Initiator after a tool message = %q, want agent", got)
	}

	post(`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`)
	if got := lastChat().Header.Get("Copilot-Vision-Request"); got != "true" {
		t.Errorf("Copilot-Vision-Request with an image = %q, want true", got)
	}

	resp, err := g.client.Get(g.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	models := fake.RequestsTo("/models")
	if len(models) == 0 {
		t.Fatal("no models request upstream")
	}
	mh := models[len(models)-1].Header
	if mh.Get("Editor-Version") == "" || mh.Get("Copilot-Integration-Id") != "vscode-chat" || !strings.HasPrefix(mh.Get("Authorization"), "Bearer ") {
		t.Errorf("models request headers: %v", mh)
	}

	ex := fake.RequestsTo("/copilot_internal/v2/token")
	if len(ex) == 0 {
		t.Fatal("no exchange")
	}
	eh := ex[0].Header
	if eh.Get("Authorization") != "token "+copilottest.GitHubToken || eh.Get("Editor-Version") == "" || eh.Get("Accept") != "application/json" {
		t.Errorf("exchange headers: Authorization scheme or editor headers wrong: Editor-Version=%q Accept=%q", eh.Get("Editor-Version"), eh.Get("Accept"))
	}

	// No secret in the logs.
	logs := g.Logs.String()
	for _, secret := range append(fake.IssuedTokens(), copilottest.GitHubToken, "sk-client-secret") {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret appears in the logs")
		}
	}
	if !strings.Contains(logs, "environment variable COPILOT_PROXY_GITHUB_TOKEN") {
		t.Error("log does not say which token source is used")
	}
}

func TestRunRefusesNonLoopbackWithoutAuth(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"COPILOT_PROXY_GITHUB_TOKEN": "ghu_x", "HOME": t.TempDir(), "COPILOT_PROXY_NO_AUTH": "true"})
	for _, addr := range []string{"0.0.0.0:0", ":8080", "[::]:0"} {
		err := run(context.Background(), []string{"serve", "--addr", addr}, env, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "refusing to listen") {
			t.Errorf("addr %s: got %v, want a refusal", addr, err)
		}
	}
}

// With client keys on, any address is allowed: the keys protect the account.
func TestRunAcceptsAnyAddressWithAuth(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_NO_AUTH": "", "COPILOT_PROXY_ADDR": "0.0.0.0:0"})
	if !strings.Contains(g.Logs.String(), "no client keys yet") {
		t.Error("starting without keys does not say how to create the first one")
	}
	g.URL = strings.Replace(g.URL, "0.0.0.0", "127.0.0.1", 1)
	resp, err := g.client.Get(g.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a key: %d, want 401", resp.StatusCode)
	}
}

func TestRunWithoutGitHubToken(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := envMap(map[string]string{"HOME": home, "XDG_CONFIG_HOME": home})
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "COPILOT_PROXY_GITHUB_TOKEN") {
		t.Fatalf("got %v, want a message saying what to set", err)
	}
}

func TestRunHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"serve", "-h"}, {"version", "--help"}, {"help"}} {
		var out strings.Builder
		if err := run(context.Background(), args, envMap(nil), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "copilot-proxy") {
			t.Errorf("%v: help missing: %q", args, out.String())
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, envMap(nil), &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "copilot-proxy ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, envMap(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// The editor identity is configurable: stale version strings can be fixed
// without a new build.
func TestEditorVersionConfigurable(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_EDITOR_VERSION": "vscode/9.9.9", "COPILOT_PROXY_USER_AGENT": "GitHubCopilotChat/9.9.9"})
	resp, err := g.client.Get(g.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, path := range []string{"/copilot_internal/v2/token", "/models"} {
		reqs := fake.RequestsTo(path)
		if len(reqs) == 0 {
			t.Fatalf("no request to %s", path)
		}
		h := reqs[len(reqs)-1].Header
		if h.Get("Editor-Version") != "vscode/9.9.9" || h.Get("User-Agent") != "GitHubCopilotChat/9.9.9" {
			t.Fatalf("%s: Editor-Version %q User-Agent %q", path, h.Get("Editor-Version"), h.Get("User-Agent"))
		}
	}
}

// Settings that guard the gateway are refused at start-up, before anything
// listens: a guessable admin token, and pprof on a non-loopback address.
func TestRunRefusesUnsafeSettings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"short admin token", map[string]string{"COPILOT_PROXY_ADMIN_TOKEN": "short"}, nil, "at least 16"},
		{"pprof beyond loopback", nil, []string{"--pprof-addr", "0.0.0.0:0"}, "loopback"},
	} {
		env := map[string]string{"COPILOT_PROXY_GITHUB_TOKEN": "ghu_x", "HOME": t.TempDir(), "COPILOT_PROXY_ADDR": "127.0.0.1:0"}
		for k, v := range tt.env {
			env[k] = v
		}
		err := run(context.Background(), append([]string{"serve"}, tt.args...), envMap(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}

// TestServeLogsGCHeadroom: serve gives --gc-headroom to the garbage
// collector's tuner, and says on its listening line what it keeps; GOGC in
// the environment turns it off.
func TestServeLogsGCHeadroom(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, `"gc_headroom":"16MiB"`},
		{nil, []string{"--gc-headroom", "4MiB"}, `"gc_headroom":"4MiB"`},
		{map[string]string{"GOGC": "150"}, nil, `"gc_headroom":"off"`},
		{nil, []string{"--gc-headroom", "0"}, `"gc_headroom":"off"`},
	} {
		g := startGateway(t, fake, tc.env, tc.args...)
		g.stop(t)
		if logs := g.Logs.String(); !strings.Contains(logs, tc.want) {
			t.Errorf("env %v, args %v: no %s on the listening line:\n%s", tc.env, tc.args, tc.want, logs)
		}
	}
}
