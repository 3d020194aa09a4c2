package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// demoGateway is a running `copilot-proxy demo`.
type demoGateway struct {
	*inProcess        // its client checks every answer (see demoCheck)
	Key        string // the demo client key, read from the banner
	Stdout     *syncBuffer
	check      *demoCheck
}

var demoKeyRE = regexp.MustCompile(`demo client key\s+(cpk_[A-Za-z0-9]+)`)

// realSetupEnv is the environment of a machine set up for serve: the demo
// must ignore all of it (it would reach GitHub with a real token).
var realSetupEnv = envMap(map[string]string{
	"COPILOT_PROXY_GITHUB_TOKEN":    "ghu_a-real-token-the-demo-must-not-use",
	"GH_COPILOT_TOKEN":              "ghu_another-real-token",
	"COPILOT_PROXY_GITHUB_API_URL":  "https://api.github.com",
	"COPILOT_PROXY_COPILOT_API_URL": "https://api.githubcopilot.com",
	"COPILOT_PROXY_ADDR":            "0.0.0.0:8080",
	"COPILOT_PROXY_ADMIN_TOKEN":     "an-admin-token-long-enough-to-be-accepted",
})

// startDemo runs `copilot-proxy demo` in-process on a free loopback port,
// with no stream delay, and reads its URL and key from what it prints.
func startDemo(t *testing.T, args ...string) *demoGateway {
	t.Helper()
	check := &demoCheck{t: t}
	g := &demoGateway{Stdout: &syncBuffer{}, check: check}
	args = append([]string{"demo", "--addr", "127.0.0.1:0", "--log-format", "json", "--stream-delay", "0"}, args...)
	g.inProcess = startInProcess(t, args, realSetupEnv, g.Stdout)
	t.Cleanup(func() { g.stop(t) })
	m := demoKeyRE.FindStringSubmatch(g.Stdout.String())
	if m == nil {
		t.Fatalf("no demo key in the banner:\n%s", g.Stdout.String())
	}
	g.Key = m[1]
	check.base = &http.Transport{}
	g.client = &http.Client{Transport: check}
	return g
}

// demoCheck is the clients' transport: it only lets requests go to
// loopback addresses, and checks that every answer carries the demo header.
type demoCheck struct {
	t    *testing.T
	base http.RoundTripper
	mu   sync.Mutex
	n    int // answers seen
}

func (c *demoCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if ip := net.ParseIP(r.URL.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test client: refusing a request to %s (not loopback)", r.URL.Host)
	}
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
		if resp.Header.Get("x-copilot-proxy-demo") != "true" {
			c.t.Errorf("%s %s %d: no x-copilot-proxy-demo: true header", r.Method, r.URL.Path, resp.StatusCode)
		}
	}
	return resp, err
}

func (c *demoCheck) CloseIdleConnections() { c.base.(*http.Transport).CloseIdleConnections() }

func (c *demoCheck) answers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (g *demoGateway) openai() openai.Client {
	return openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey(g.Key),
		option.WithHTTPClient(g.client), option.WithMaxRetries(0))
}

func (g *demoGateway) anthropic() anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAuthToken(g.Key),
		aoption.WithHTTPClient(g.client), aoption.WithMaxRetries(0))
}

// TestDemoSDKs: `copilot-proxy demo` answers the official OpenAI SDK (chat,
// stream, tools, responses) and the Anthropic SDK (messages, stream, tool
// use) with no GitHub token and nothing but loopback; every answer is marked
// (the header, demo-* models, the demo text).
func TestDemoSDKs(t *testing.T) {
	t.Parallel()
	g := startDemo(t)
	t.Run("chat", func(t *testing.T) { t.Parallel(); demoChat(t, g.openai()) })
	t.Run("chat stream", func(t *testing.T) { t.Parallel(); demoChatStream(t, g.openai()) })
	t.Run("chat tools", func(t *testing.T) { t.Parallel(); demoChatTools(t, g.openai()) })
	t.Run("responses", func(t *testing.T) { t.Parallel(); demoResponses(t, g.openai().Responses) })
	t.Run("messages", func(t *testing.T) { t.Parallel(); demoMessages(t, g.anthropic()) })
	t.Run("messages stream", func(t *testing.T) { t.Parallel(); demoMessagesStream(t, g.anthropic()) })
	t.Run("messages tool use", func(t *testing.T) { t.Parallel(); demoToolUse(t, g.anthropic()) })
}

func wantDemoModel(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want || !strings.HasPrefix(got, demoModelPrefix) {
		t.Errorf("%s: model %q, want %q", what, got, want)
	}
}

func demoChat(t *testing.T, c openai.Client) {
	for model, want := range map[string]string{"gpt-4o": "demo-gpt-4o", "demo-gpt-5": "demo-gpt-5", "claude-sonnet-4.5": "demo-claude-sonnet-4.5"} {
		resp, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hi")}})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		wantDemoModel(t, model, resp.Model, want)
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != demoAnswer || resp.Usage.TotalTokens == 0 {
			t.Errorf("%s: %+v", model, resp.Choices)
		}
	}
}

func demoChatStream(t *testing.T, c openai.Client) {
	stream := c.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Count to 5")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	wantDemoModel(t, "stream", acc.Model, "demo-gpt-4o")
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != demoAnswer || acc.Usage.TotalTokens == 0 || chunks < 10 {
		t.Errorf("stream: %d chunks, %+v usage %+v", chunks, acc.Choices, acc.Usage)
	}
}

var demoWeather = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
	Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required": []string{"city"}}})

func demoChatTools(t *testing.T, c openai.Client) {
	ask := openai.UserMessage(copilottest.ToolTrigger + " get_weather in Paris")
	params := openai.ChatCompletionNewParams{Model: "gpt-4o", Tools: []openai.ChatCompletionToolUnionParam{demoWeather},
		Messages: []openai.ChatCompletionMessageParamUnion{ask}}
	resp, err := c.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	wantDemoModel(t, "tool call", resp.Model, "demo-gpt-4o")
	msg := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" ||
		msg.ToolCalls[0].Function.Arguments != `{"city":"demo"}` { // valid for the tool's schema
		t.Fatalf("tool call: %+v", resp.Choices[0])
	}
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("22 degrees", msg.ToolCalls[0].ID))
	resp, err = c.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != demoAnswer+" | tool output: 22 degrees" {
		t.Errorf("after the tool result: %q", got)
	}
}

// demoResponses: the Responses API for a model served there (gpt-5-codex,
// Codex's) and one translated through chat (gpt-4o): create, stream and a
// function call.
func demoResponses(t *testing.T, rs responses.ResponseService) {
	ctx := t.Context()
	for model, want := range map[string]string{"gpt-5-codex": "demo-gpt-5-codex", "gpt-4o": "demo-gpt-4o"} {
		input := responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hi")}
		resp, err := rs.New(ctx, responses.ResponseNewParams{Model: model, Input: input})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		wantDemoModel(t, model, resp.Model, want)
		if resp.OutputText() != demoAnswer || resp.Status != "completed" {
			t.Errorf("%s: text %q status %q", model, resp.OutputText(), resp.Status)
		}
		text, completed := streamText(ctx, t, rs, model)
		wantDemoModel(t, model+" stream", completed.Model, want)
		if text != demoAnswer || completed.OutputText() != demoAnswer {
			t.Errorf("%s stream: %q, completed %q", model, text, completed.OutputText())
		}
		ask := responses.ResponseInputItemParamOfMessage(copilottest.ToolTrigger+" get_weather", responses.EasyInputMessageRoleUser)
		resp, err = rs.New(ctx, responses.ResponseNewParams{Model: model, Tools: []responses.ToolUnionParam{weatherTool},
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{ask}}})
		if err != nil {
			t.Fatalf("%s tool: %v", model, err)
		}
		if len(resp.Output) == 0 || resp.Output[len(resp.Output)-1].Type != "function_call" ||
			resp.Output[len(resp.Output)-1].AsFunctionCall().Name != "get_weather" {
			t.Errorf("%s tool: %+v", model, resp.Output)
		}
	}
}

func demoMessages(t *testing.T, c anthropic.Client) {
	for model, want := range map[string]string{"claude-sonnet-4-5-20250929": "demo-claude-sonnet-4.5", "claude-opus-4-6": "demo-claude-opus-4.6",
		"claude-3-5-haiku-latest": "demo-claude-haiku-4.5", "gpt-4o": "demo-gpt-4o"} {
		msg, err := c.Messages.New(t.Context(), anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 1024,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hi"))}})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		wantDemoModel(t, model, string(msg.Model), want)
		if len(msg.Content) == 0 || msg.Content[0].Text != demoAnswer || msg.StopReason != "end_turn" {
			t.Errorf("%s: %+v", model, msg)
		}
	}
}

func demoMessagesStream(t *testing.T, c anthropic.Client) {
	stream := c.Messages.NewStreaming(t.Context(), anthropic.MessageNewParams{Model: "claude-sonnet-4-5-20250929", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Count to 5"))}})
	defer stream.Close()
	var msg anthropic.Message
	events := 0
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	wantDemoModel(t, "stream", string(msg.Model), "demo-claude-sonnet-4.5")
	if len(msg.Content) == 0 || msg.Content[0].Text != demoAnswer || msg.StopReason != "end_turn" || events < 10 {
		t.Errorf("stream: %d events, %+v", events, msg)
	}
}

func demoToolUse(t *testing.T, c anthropic.Client) {
	ask := anthropic.NewUserMessage(anthropic.NewTextBlock(copilottest.ToolTrigger + " get_weather"))
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5-20250929", MaxTokens: 1024,
		Tools: []anthropic.ToolUnionParam{weatherToolA}, Messages: []anthropic.MessageParam{ask}}
	msg, err := c.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	last := msg.Content[len(msg.Content)-1]
	if msg.StopReason != "tool_use" || last.Type != "tool_use" || last.Name != "get_weather" {
		t.Fatalf("tool use: %+v", msg)
	}
	params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(last.ID, "22 degrees", false)))
	msg, err = c.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) == 0 || msg.Content[0].Text != demoAnswer+" | tool output: 22 degrees" {
		t.Errorf("after the tool result: %+v", msg.Content)
	}
}

// TestDemoMarksEveryAnswer: errors and the gateway's own routes carry the
// demo header too (demoCheck fails the test otherwise).
func TestDemoMarksEveryAnswer(t *testing.T) {
	t.Parallel()
	g := startDemo(t)
	for _, tc := range []struct {
		method, path, auth, body string
		status                   int
	}{
		{"GET", "/", "", "", http.StatusOK},
		{"GET", "/healthz", "", "", http.StatusOK},
		{"GET", "/v1/models", "Bearer " + g.Key, "", http.StatusOK},
		{"GET", "/v1/models", "Bearer cpk_not-the-demo-key", "", http.StatusUnauthorized},
		{"POST", "/v1/chat/completions", "Bearer " + g.Key, `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, http.StatusNotFound},
		{"POST", "/v1/embeddings", "Bearer " + g.Key, `{"model":"text-embedding-3-small","input":"hi"}`, http.StatusOK},
		{"GET", "/no/such/route", "", "", http.StatusNotFound},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, g.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
		}
	}
	if n := g.check.answers(); n != 7 {
		t.Errorf("%d answers checked, want 7", n)
	}
}

// TestDemoLogAndCleanup: the log says demo mode first and marks every line;
// every upstream URL it names is on loopback and none is GitHub's, although
// the environment points at GitHub with a token; the banner has what a user
// needs; the key store and token file are deleted on exit.
func TestDemoLogAndCleanup(t *testing.T) {
	t.Parallel()
	g := startDemo(t)
	c := g.openai()
	resp, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil || resp.Choices[0].Message.Content != demoAnswer {
		t.Fatalf("chat: %v %+v", err, resp)
	}
	for _, want := range []string{"DEMO MODE — answers are fake", g.URL + "/v1", "OPENAI_BASE_URL=" + g.URL + "/v1",
		"ANTHROPIC_BASE_URL=" + g.URL + " ANTHROPIC_AUTH_TOKEN=" + g.Key, `wire_api="responses"`, "curl " + g.URL} {
		if !strings.Contains(g.Stdout.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, g.Stdout.String())
		}
	}
	g.stop(t)
	lines := demoLogLines(t, g.Logs.String())
	if len(lines) < 3 || lines[0]["message"] != demoLogLine {
		t.Fatalf("first log line %v, want the demo line", lines[0])
	}
	var dir string
	for _, l := range lines {
		if l["demo"] != true {
			t.Errorf("log line without demo=true: %v", l)
		}
		for _, k := range []string{"upstream", "api_url", "url"} {
			if v, ok := l[k].(string); ok {
				if err := checkLoopbackURLs(v); err != nil {
					t.Errorf("log line %v: %v", l, err)
				}
			}
		}
		if src, ok := l["source"].(string); ok && l["message"] == "using GitHub token" {
			dir = strings.TrimSuffix(strings.TrimPrefix(src, "file "), "/github-token")
		}
	}
	if logs := g.Logs.String(); strings.Contains(logs, "github.com") || strings.Contains(logs, "githubcopilot.com") || strings.Contains(logs, "ghu_a-real") {
		t.Errorf("the log names GitHub or the environment's token:\n%s", logs)
	}
	if !strings.Contains(dir, "copilot-proxy-demo-") {
		t.Fatalf("the GitHub token did not come from the demo's file (source dir %q)", dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's directory %s is still there: %v", dir, err)
	}
}

// demoLogLines parses a JSON log.
func demoLogLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestDemoNeverContactsGitHub: the configuration the demo builds points
// only at the fake, and a non-loopback upstream is refused.
func TestDemoNeverContactsGitHub(t *testing.T) {
	t.Parallel()
	sc, err := demoServeConfig(demoConfig{Addr: "127.0.0.1:0", LogLevel: "info"}, "http://127.0.0.1:1234", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if sc.GitHubAPIURL != "http://127.0.0.1:1234" || sc.CopilotAPIURL != "http://127.0.0.1:1234" || !sc.Demo || sc.NoAuth ||
		sc.RedisURL != "" || sc.DatabaseURL != "" || sc.MetricsAddr != "" || sc.PprofAddr != "" {
		t.Errorf("demo config %+v", sc)
	}
	for _, u := range []string{"https://api.github.com", "https://api.githubcopilot.com", "http://10.0.0.1:80", "http://localhost.example.com"} {
		if _, err := demoServeConfig(demoConfig{Addr: "127.0.0.1:0", LogLevel: "info"}, u, t.TempDir()); err == nil {
			t.Errorf("upstream %s accepted", u)
		}
	}
	for from, to := range demoModelAliases() {
		if !strings.HasPrefix(to, demoModelPrefix) || !strings.Contains(demoModelsJSON(), `"id":"`+to+`"`) {
			t.Errorf("alias %s=%s: not a demo model", from, to)
		}
	}
}

func TestDemoFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		wantErr string // "" = success
		stdout  string
	}{
		{[]string{"demo", "--help"}, "", "Usage: copilot-proxy demo"},
		{[]string{"demo", "--addr", "0.0.0.0:8080"}, "loopback", ""},
		{[]string{"demo", "--addr", "192.168.1.2:0"}, "loopback", ""},
		{[]string{"demo", "--log-level", "loud"}, "--log-level", ""},
		{[]string{"demo", "--stream-delay", "-1s"}, "--stream-delay", ""},
		{[]string{"demo", "extra"}, "unexpected argument", ""},
		{[]string{"help"}, "", "copilot-proxy demo"},
		{[]string{"serve", "--demo"}, "flag provided but not defined", ""}, // serve never reaches the fake
	} {
		var stdout, stderr strings.Builder
		err := run(t.Context(), tc.args, realSetupEnv, &stdout, &stderr)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.wantErr != "" && (err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want a usage error with %q", tc.args, err, tc.wantErr)
		case !strings.Contains(stdout.String(), tc.stdout):
			t.Errorf("%q: stdout %q, want %q", tc.args, stdout.String(), tc.stdout)
		}
	}
}
