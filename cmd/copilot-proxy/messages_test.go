package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// anthropicClient is the official Anthropic Go SDK pointed at g with key.
func (g *testGateway) anthropicClient(key string, retries int) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAPIKey(key),
		aoption.WithHTTPClient(g.client), aoption.WithMaxRetries(retries))
}

var weatherToolA = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}},
}}

// TestMessagesSDK: the Anthropic Go SDK's messages.create, a streamed
// message accumulated to its end, a tool-use round trip and countTokens,
// for a Claude model (native, asked for by Anthropic's dated id) and a GPT
// model (translated).
func TestMessagesSDK(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "claude")
	eventually(t, "the key is served", func() bool { return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode == 200 })
	c := g.anthropicClient(k.Key, 0)
	ctx := t.Context()
	for _, model := range []string{"claude-sonnet-4-5-20250929", "gpt-4o"} {
		t.Run(model, func(t *testing.T) {
			msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 1024,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) == 0 || msg.Content[0].Text != copilottest.DefaultChatContent || msg.StopReason != "end_turn" || msg.Usage.OutputTokens == 0 {
				t.Fatalf("create: %+v", msg)
			}
			streamMessage(ctx, t, c, model)
			toolUseRoundTrip(ctx, t, c, model)
			n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: model,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there, how are you today?"))}})
			if err != nil || n.InputTokens <= 0 {
				t.Fatalf("count tokens: %+v %v", n, err)
			}
		})
	}
	for _, r := range fake.RequestsTo("/v1/messages") {
		if !strings.Contains(string(r.Body), `"claude-sonnet-4.5"`) {
			t.Errorf("a native request without the mapped model id: %.200s", r.Body)
		}
	}
	if len(fake.RequestsTo("/v1/messages")) == 0 {
		t.Error("no request went to Copilot's /v1/messages")
	}
}

// streamMessage streams a message, accumulating it as the SDK's
// finalMessage does.
func streamMessage(ctx context.Context, t *testing.T, c anthropic.Client, model string) {
	t.Helper()
	stream := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("count"))}})
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, "chunk 0") || msg.StopReason != "end_turn" || msg.Usage.OutputTokens == 0 {
		t.Fatalf("accumulated message: %+v", msg)
	}
}

// toolUseRoundTrip asks for a tool call and sends its result back.
func toolUseRoundTrip(ctx context.Context, t *testing.T, c anthropic.Client, model string) {
	t.Helper()
	ask := anthropic.NewUserMessage(anthropic.NewTextBlock(copilottest.ToolTrigger + " get_weather"))
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 1024,
		Tools: []anthropic.ToolUnionParam{weatherToolA}, Messages: []anthropic.MessageParam{ask}})
	if err != nil {
		t.Fatal(err)
	}
	var use anthropic.ContentBlockUnion
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			use = b
		}
	}
	if use.Name != "get_weather" || use.ID == "" || msg.StopReason != "tool_use" || !strings.Contains(string(use.Input), "Paris") {
		t.Fatalf("tool use: %+v (stop %s)", msg.Content, msg.StopReason)
	}
	msg, err = c.Messages.New(ctx, anthropic.MessageNewParams{Model: model, MaxTokens: 1024,
		Tools: []anthropic.ToolUnionParam{weatherToolA}, Messages: []anthropic.MessageParam{
			ask, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "22 degrees", false)),
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) == 0 || msg.Content[0].Text != copilottest.ToolResultReply("22 degrees") {
		t.Fatalf("after the tool result: %+v", msg.Content)
	}
}

// TestMessagesSDKErrors: the SDK's typed errors: a bad key is an
// authentication_error (401), a key over its limit a rate_limit_error
// (429) with retry-after, which the SDK honours when it retries.
func TestMessagesSDKErrors(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "slow", "--rpm", "1")
	eventually(t, "the key is served", func() bool {
		return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode != http.StatusUnauthorized
	})
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4.5", MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
	bad := g.anthropicClient("cpk_not-a-real-key", 0)
	_, err := bad.Messages.New(t.Context(), params)
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Type() != "authentication_error" {
		t.Fatalf("bad key: %v", err)
	}
	slow := g.anthropicClient(k.Key, 0)
	_, err = slow.Messages.New(t.Context(), params) // the key's one request this minute was the chat above
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Type() != "rate_limit_error" || ae.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %v", err)
	}

	// Copilot rate-limits once (Retry-After: 1): the SDK sees a
	// rate_limit_error with the header passed on, waits and retries, and
	// the retry succeeds.
	k2 := createKey(t, db, "--name", "retrying", "--rpm", "0")
	eventually(t, "the key is served", func() bool {
		return g.chat(t, "Authorization", "Bearer "+k2.Key, "gpt-4o").StatusCode == 200
	})
	fake.SetMessagesFault(copilottest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", Count: 1,
		Body: copilottest.AnthropicErrorBody(http.StatusTooManyRequests)})
	before := len(fake.RequestsTo("/v1/messages"))
	retrying := g.anthropicClient(k2.Key, 1)
	msg, err := retrying.Messages.New(t.Context(), params)
	if err != nil || len(msg.Content) == 0 {
		t.Fatalf("after a retried 429: %v", err)
	}
	if n := len(fake.RequestsTo("/v1/messages")) - before; n != 2 {
		t.Fatalf("%d native calls, want the 429 and the retry", n)
	}
}

// TestModelAliases: --model-alias and COPILOT_PROXY_MODEL_ALIASES map ids
// clients send to Copilot models on every API, and /v1/models lists them.
func TestModelAliases(t *testing.T) {
	fake := copilottest.New(t)
	// The flag wins over the environment, as for every setting: the
	// variable is read only when no --model-alias is given.
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_MODEL_ALIASES": "ignored=gpt-4o"},
		"--model-alias", "fast=gpt-4o,sonnet-latest=claude-sonnet-4.5", "--model-alias", "codex=gpt-5-codex")
	// Routing reads the cached list; make sure it is there.
	resp, models := g.do(t, http.MethodGet, "/v1/models", "")
	for _, id := range []string{`"id":"fast"`, `"id":"codex"`, `"id":"sonnet-latest"`} {
		if resp.StatusCode != 200 || !strings.Contains(string(models), id) {
			t.Fatalf("/v1/models lacks %s: %.300s", id, models)
		}
	}
	if s := g.chat(t, "", "", "fast").StatusCode; s != 200 {
		t.Fatalf("chat with an alias: %d", s)
	}
	if s := g.chat(t, "", "", "codex").StatusCode; s != 200 {
		t.Fatalf("chat with an alias of a responses-only model: %d", s)
	}
	resp, body := g.do(t, http.MethodPost, "/v1/messages", `{"model":"sonnet-latest","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("messages with an alias: %d %s", resp.StatusCode, body)
	}
	chats := fake.RequestsTo("/chat/completions")
	if len(chats) == 0 || !strings.Contains(string(chats[len(chats)-1].Body), `"model":"gpt-4o"`) {
		t.Errorf("the alias did not reach Copilot as gpt-4o")
	}
	if rs := fake.RequestsTo("/responses"); len(rs) != 1 || !strings.Contains(string(rs[0].Body), `"gpt-5-codex"`) {
		t.Errorf("the codex alias did not reach /responses as gpt-5-codex")
	}
	if ms := fake.RequestsTo("/v1/messages"); len(ms) != 1 || !strings.Contains(string(ms[0].Body), `"claude-sonnet-4.5"`) {
		t.Errorf("the sonnet-latest alias did not reach /v1/messages as claude-sonnet-4.5")
	}
	if strings.Contains(string(models), `"id":"ignored"`) {
		t.Error("the environment's aliases were taken although --model-alias was given")
	}
	g2 := startGateway(t, fake, map[string]string{"COPILOT_PROXY_MODEL_ALIASES": "env-fast=gpt-4o"})
	if s := g2.chat(t, "", "", "env-fast").StatusCode; s != 200 {
		t.Errorf("chat with an alias from COPILOT_PROXY_MODEL_ALIASES: %d", s)
	}
	if err := run(t.Context(), []string{"serve", "--model-alias", "nonsense"}, envMap(nil), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "from=to") {
		t.Errorf("a malformed alias: %v", err)
	}
}

// TestMessagesTranslatedClampsOutput: Claude Code asks for up to 64,000
// output tokens; a translated request is held to the model's own limit
// (gpt-4o: 16,384 in the model list) so Copilot does not refuse it.
func TestMessagesTranslatedClampsOutput(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	g.do(t, http.MethodGet, "/v1/models", "") // routing and limits read the cached list
	resp, body := g.do(t, http.MethodPost, "/v1/messages", `{"model":"gpt-4o","max_tokens":64000,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	chats := fake.RequestsTo("/chat/completions")
	if len(chats) != 1 || !strings.Contains(string(chats[0].Body), `"max_tokens":16384`) {
		t.Fatalf("translated request: %.300s", chats[len(chats)-1].Body)
	}
}

// TestUsageOfEveryAPI: requests on the Responses and Messages APIs, native
// and translated, stream and not, are recorded per key and model with their
// tokens, as chat requests are.
func TestUsageOfEveryAPI(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "all-apis")
	eventually(t, "the key is served", func() bool { return g.chat(t, "Authorization", "Bearer "+k.Key, "gpt-4o").StatusCode == 200 })
	auth := []string{"Authorization", "Bearer " + k.Key}
	for _, c := range []struct{ path, body string }{
		{"/v1/responses", `{"model":"gpt-5-codex","input":"hi"}`},
		{"/v1/responses", `{"model":"gpt-5-codex","input":"hi","stream":true}`},
		{"/v1/responses", `{"model":"claude-haiku-4.5","input":"hi","stream":true}`},
		{"/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", `{"model":"gpt-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		if resp, body := g.do(t, http.MethodPost, c.path, c.body, auth...); resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", c.path, c.body, resp.StatusCode, body)
		}
	}
	want := map[string]int64{"gpt-5-codex": 2, "claude-haiku-4.5": 1, "claude-sonnet-4.5": 2, "gpt-5": 1}
	eventually(t, "usage recorded", func() bool {
		got := map[string]int64{}
		for _, r := range usageRows(t, db, k.ID) {
			if r.PromptTokens > 0 && r.CompletionTokens > 0 {
				got[r.Model] = r.Requests
			}
		}
		for m, n := range want {
			if got[m] != n {
				return false
			}
		}
		return true
	})
}
