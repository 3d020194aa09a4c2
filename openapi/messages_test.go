package openapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

const (
	msgPath   = "/v1/messages"
	countPath = "/v1/messages/count_tokens"
)

// faultModels are faultUpstream's models that the Messages cases use. The
// Messages route maps every model id to one Copilot lists before sending
// anything (an unlisted id is a 404), so they are added to the fake's list,
// as chat models: their requests go the translated way, to faultUpstream.
var faultModels = []string{"fault-400", "fault-panic", "fault-unavailable", "fault-timeout", "fault-unreachable"}

// withModels is a GET /models body: the fake's default list plus chat
// models with these ids.
func withModels(t *testing.T, ids ...string) string {
	t.Helper()
	var list struct {
		Object string            `json:"object"`
		Data   []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(copilottest.DefaultModelsJSON), &list); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		list.Data = append(list.Data, json.RawMessage(`{"id":"`+id+`","object":"model","capabilities":{"type":"chat"}}`))
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claudeTurn is a Messages request as Claude Code sends it: system blocks
// with cache_control, a client tool, tool_choice, metadata.
const claudeTurn = `{"model":"%s","max_tokens":1024,"stream":%t,` +
	`"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],` +
	`"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],` +
	`"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],` +
	`"tool_choice":{"type":"auto"},"metadata":{"user_id":"user_0123"},"temperature":1}`

// TestMessagesMatchSpec holds POST /v1/messages and
// /v1/messages/count_tokens to the document: the native passthrough and
// the translation, as JSON and as streams (every event against
// MessageStreamEvent), tool use, broken streams, the fallback from native
// to translated, and every error status in the Anthropic shape.
func TestMessagesMatchSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	e := newEnv(t, 4096)
	e.fake.SetModelsJSON(withModels(t, faultModels...))
	bearer := "Bearer " + e.key
	// A key whose allow-list lacks the Claude models, and one with a
	// single request a minute.
	k, err := e.store.Create(context.Background(), keys.CreateParams{Name: "gpt-4o-only", Models: []string{"gpt-4o"}})
	if err != nil {
		t.Fatal(err)
	}
	only4o := "Bearer " + k.Secret
	one := 1
	k, err = e.store.Create(context.Background(), keys.CreateParams{Name: "one-a-minute", RPM: &one})
	if err != nil {
		t.Fatal(err)
	}
	oneRPM := "Bearer " + k.Secret

	msg := func(model string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"max_tokens":64,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	}
	turn := func(model string, stream bool) string { return fmt.Sprintf(claudeTurn, model, stream) }
	big := func(model string) string {
		return `{"model":"` + model + `","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	}
	// The same turn when the user asks for the tool (the fake's convention).
	toolTurn := func(model string, stream bool) string {
		return strings.Replace(turn(model, stream), `"text":"hi"`, `"text":"`+copilottest.ToolTrigger+` get_weather"`, 1)
	}
	thinking := func(model string) string {
		return strings.Replace(turn(model, true), `"temperature":1`, `"thinking":{"type":"enabled","budget_tokens":1024}`, 1)
	}
	// Claude Code's headers, forwarded on the native path.
	claudeCode := http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"claude-code-20250219,interleaved-thinking-2025-05-14"}}
	forwarded := []string{"Anthropic-Version", "Anthropic-Beta"}
	native := []string{copilottest.PathMessages}
	translated := []string{copilottest.PathChat}
	fallback := []string{copilottest.PathMessages, copilottest.PathChat}
	const stream = "MessageStreamEvent"
	// Anthropic-shaped upstream refusals on the native path.
	nativeFault := func(status int, retryAfter string) func() {
		return func() {
			e.fake.SetMessagesFault(copilottest.Fault{Status: status, Body: copilottest.AnthropicErrorBody(status), RetryAfter: retryAfter, Count: 1})
		}
	}

	calls := []call{
		// Native passthrough: Claude models Copilot serves at /v1/messages;
		// a dashed or dated id is mapped to Copilot's dotted one (the
		// answer names it).
		{name: "native", method: "POST", path: msgPath + "?beta=true", apiKey: e.key, header: claudeCode, contentType: "application/json", body: turn("claude-sonnet-4.5", false), status: 200,
			upstream: native, forwarded: forwarded, contains: []string{`"type":"message"`, `"model":"claude-sonnet-4.5"`}},
		{name: "native dated id", method: "POST", path: msgPath, auth: bearer, header: claudeCode, body: msg("claude-sonnet-4-5-20250929", false), status: 200,
			upstream: native, forwarded: forwarded, contains: []string{`"model":"claude-sonnet-4.5"`}},
		{name: "native family alias", method: "POST", path: msgPath, auth: bearer, body: msg("haiku", false), status: 200,
			upstream: native, contains: []string{`"model":"claude-haiku-4.5"`}},
		{name: "native tool use", method: "POST", path: msgPath, auth: bearer, header: claudeCode, body: toolTurn("claude-sonnet-4-5", false), status: 200,
			upstream: native, contains: []string{`"type":"tool_use"`, `"stop_reason":"tool_use"`}},
		{name: "native stream", method: "POST", path: msgPath + "?beta=true", auth: bearer, header: claudeCode, body: turn("claude-sonnet-4-5-20250929", true), status: 200,
			upstream: native, forwarded: forwarded, events: stream, last: "message_stop", contains: []string{"text_delta"}},
		{name: "native stream tool use", method: "POST", path: msgPath, auth: bearer, body: toolTurn("claude-sonnet-4.5", true), status: 200,
			upstream: native, events: stream, last: "message_stop", contains: []string{"input_json_delta", `"stop_reason":"tool_use"`}},
		{name: "native stream thinking", method: "POST", path: msgPath, auth: bearer, header: claudeCode, body: thinking("claude-opus-4-6"), status: 200,
			upstream: native, events: stream, last: "message_stop", contains: []string{"thinking_delta", "signature_delta"}},

		// Translation: through chat completions (gpt-4o), or /responses
		// (gpt-5-codex, served only there).
		{name: "translated", method: "POST", path: msgPath, auth: bearer, header: claudeCode, contentType: "application/json", body: turn("gpt-4o", false), status: 200,
			upstream: translated, contains: []string{`"type":"message"`, `"model":"gpt-4o"`}},
		{name: "translated through responses", method: "POST", path: msgPath, auth: bearer, body: msg("gpt-5-codex", false), status: 200,
			upstream: []string{copilottest.PathResponses}},
		{name: "translated tool use", method: "POST", path: msgPath, auth: bearer, body: toolTurn("gpt-4o", false), status: 200,
			upstream: translated, contains: []string{`"type":"tool_use"`, `"stop_reason":"tool_use"`}},
		{name: "translated stream", method: "POST", path: msgPath + "?beta=true", auth: bearer, header: claudeCode, body: thinking("gpt-4o"), status: 200,
			upstream: translated, events: stream, last: "message_stop", contains: []string{"text_delta"}},
		{name: "translated stream tool use", method: "POST", path: msgPath, auth: bearer, body: toolTurn("gpt-4o", true), status: 200,
			upstream: translated, events: stream, last: "message_stop", contains: []string{"input_json_delta", `"stop_reason":"tool_use"`}},
		{name: "translated stream through responses", method: "POST", path: msgPath, auth: bearer, body: toolTurn("gpt-5-codex", true), status: 200,
			upstream: []string{copilottest.PathResponses}, events: stream, last: "message_stop", contains: []string{"input_json_delta"}},

		// A native call Copilot fails with a 5xx before any byte is answered
		// once more translated.
		{name: "native 503 falls back", method: "POST", path: msgPath, auth: bearer, header: claudeCode, body: turn("claude-sonnet-4.5", false), status: 200,
			upstream: fallback, contains: []string{`"type":"message"`},
			setup: func() { e.fake.SetMessagesFault(copilottest.Fault{Status: 503, Count: 1}) }},
		{name: "native 503 falls back (stream)", method: "POST", path: msgPath, auth: bearer, body: turn("claude-sonnet-4.5", true), status: 200,
			upstream: fallback, events: stream, last: "message_stop",
			setup: func() {
				e.fake.SetMessagesFault(copilottest.Fault{Status: 503, Body: copilottest.AnthropicErrorBody(503), Count: 1})
			}},

		// Broken streams end with an error event: the gateway's own
		// (api_error) when the upstream breaks, Copilot's when it sends one.
		{name: "native stream broken", method: "POST", path: msgPath, auth: bearer, body: turn("claude-sonnet-4.5", true), status: 200,
			events: stream, last: "error", contains: []string{`"api_error"`},
			setup: func() { e.fake.SetMessagesFault(copilottest.Fault{DropAfter: 3, Count: 1}) }},
		{name: "native stream upstream error event", method: "POST", path: msgPath, auth: bearer, body: turn("claude-sonnet-4.5", true), status: 200,
			events: stream, last: "error", contains: []string{`"overloaded_error"`},
			setup: func() { e.fake.SetMessagesFault(copilottest.Fault{FailAfter: 4, Count: 1}) }},
		{name: "translated stream broken", method: "POST", path: msgPath, auth: bearer, body: turn("gpt-4o", true), status: 200,
			events: stream, last: "error", contains: []string{`"api_error"`},
			setup: func() { e.fake.SetChatFault(copilottest.Fault{DropAfter: 2, Count: 1}) }},

		// count_tokens: a local estimate, nothing sent upstream.
		{name: "count_tokens", method: "POST", path: countPath + "?beta=true", apiKey: e.key, header: claudeCode, contentType: "application/json", body: turn("claude-sonnet-4-5", false), status: 200,
			upstream: []string{}, contains: []string{`"input_tokens"`}},
		{name: "count_tokens without max_tokens", method: "POST", path: countPath, auth: bearer, body: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hello"}]}`, status: 200,
			upstream: []string{}},

		// Errors, all in the Anthropic shape.
		{name: "invalid JSON", method: "POST", path: msgPath, auth: bearer, body: `{"model":`, status: 400, errType: "invalid_request_error"},
		{name: "no model", method: "POST", path: msgPath, auth: bearer, body: `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, status: 400, errType: "invalid_request_error", contains: []string{"model: Field required"}},
		{name: "case variant", method: "POST", path: msgPath, auth: bearer, body: `{"model":"claude-sonnet-4.5","max_tokens":5,"Stream":true,"messages":[{"role":"user","content":"hi"}]}`, status: 400, errType: "invalid_request_error"},
		{name: "translated without max_tokens", method: "POST", path: msgPath, auth: bearer, body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, status: 400, errType: "invalid_request_error", contains: []string{"max_tokens: Field required"}},
		{name: "translated bad role", method: "POST", path: msgPath, auth: bearer, body: `{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"narrator","content":"hi"}]}`, status: 400, errType: "invalid_request_error", contains: []string{"messages.0.role"}},
		{name: "native upstream 400 kept", method: "POST", path: msgPath, auth: bearer, body: msg("claude-sonnet-4.5", false), status: 400, errType: "invalid_request_error",
			upstream: native, setup: nativeFault(400, "")},
		{name: "translated upstream 400 kept", method: "POST", path: msgPath, auth: bearer, body: msg("fault-400", false), status: 400, errType: "invalid_request_error", contains: []string{"prompt too long"}},
		{name: "count_tokens not an object", method: "POST", path: countPath, auth: bearer, body: `[1]`, status: 400, errType: "invalid_request_error"},
		{name: "count_tokens no messages", method: "POST", path: countPath, auth: bearer, body: `{"model":"claude-sonnet-4-5","messages":[]}`, status: 400, errType: "invalid_request_error"},
		{name: "bad key", method: "POST", path: msgPath, auth: "Bearer cpk_nope", body: msg("claude-sonnet-4.5", false), status: 401, errType: "authentication_error", code: "invalid_api_key", headers: []string{"X-Should-Retry", "Www-Authenticate"}},
		{name: "bad x-api-key", method: "POST", path: msgPath, apiKey: "cpk_nope", header: claudeCode, body: msg("claude-sonnet-4.5", false), status: 401, errType: "authentication_error"},
		{name: "model not allowed (mapped id)", method: "POST", path: msgPath, auth: only4o, body: msg("claude-sonnet-4-5-20250929", false), status: 403, errType: "permission_error", contains: []string{"claude-sonnet-4.5"},
			upstream: []string{}},
		{name: "unknown model", method: "POST", path: msgPath, auth: bearer, body: msg("claude-nonexistent-1", false), status: 404, errType: "not_found_error", contains: []string{"claude-nonexistent-1", "claude-sonnet-4.5", "gpt-4o"},
			upstream: []string{}},
		{name: "unknown family member", method: "POST", path: msgPath, auth: bearer, body: msg("claude-3-opus-20240229", false), status: 200, upstream: native,
			contains: []string{`"model":"claude-opus-4.6"`}},
		{name: "native upstream 404 kept", method: "POST", path: msgPath, auth: bearer, body: msg("claude-sonnet-4.5", false), status: 404, errType: "not_found_error",
			upstream: native, setup: nativeFault(404, "")},
		{name: "request too large", method: "POST", path: msgPath, auth: bearer, body: big("claude-sonnet-4.5"), status: 413, errType: "request_too_large"},
		{name: "count_tokens request too large", method: "POST", path: countPath, auth: bearer, body: big("claude-sonnet-4.5"), status: 413, errType: "request_too_large"},
		{name: "unsupported media type", method: "POST", path: msgPath, auth: bearer, contentType: "text/plain", body: msg("claude-sonnet-4.5", false), status: 415, errType: "invalid_request_error"},
		{name: "no content type", method: "POST", path: msgPath, auth: bearer, contentType: noContentType, body: msg("claude-sonnet-4.5", false), status: 415, errType: "invalid_request_error"},
		{name: "count_tokens unsupported media type", method: "POST", path: countPath, auth: bearer, contentType: "application/x-www-form-urlencoded", body: msg("claude-sonnet-4.5", false), status: 415, errType: "invalid_request_error"},
		{name: "native upstream 422 kept", method: "POST", path: msgPath, auth: bearer, body: msg("claude-sonnet-4.5", false), status: 422, errType: "invalid_request_error",
			upstream: native, setup: nativeFault(422, "")},
		{name: "native upstream 429 kept", method: "POST", path: msgPath, auth: bearer, body: msg("claude-sonnet-4.5", true), status: 429, errType: "rate_limit_error", headers: []string{"Retry-After"},
			upstream: native, setup: nativeFault(429, "7")},
		{name: "translated upstream 429 kept", method: "POST", path: msgPath, auth: bearer, body: msg("gpt-4o", false), status: 429, errType: "rate_limit_error", headers: []string{"Retry-After"},
			upstream: translated, setup: func() { e.fake.SetChatFault(copilottest.Fault{Status: 429, RetryAfter: "7", Count: 1}) }},
		{name: "key within its limit", method: "POST", path: countPath, auth: oneRPM, body: msg("gpt-4o", false), status: 200, headers: []string{"X-Ratelimit-Remaining-Requests"}},
		{name: "key over its limit", method: "POST", path: msgPath, auth: oneRPM, body: msg("gpt-4o", false), status: 429, errType: "rate_limit_error",
			headers: []string{"Retry-After", "Retry-After-Ms", "X-Ratelimit-Remaining-Requests"}, upstream: []string{}},
		{name: "internal error", method: "POST", path: msgPath, auth: bearer, body: msg("fault-panic", false), status: 500, errType: "api_error"},
		{name: "translated upstream 5xx", method: "POST", path: msgPath, auth: bearer, body: msg("gpt-4o", false), status: 502, errType: "api_error",
			upstream: translated, setup: func() { e.fake.SetChatFault(copilottest.Fault{Status: 500, Count: 1}) }},
		{name: "native 5xx, then translated 5xx", method: "POST", path: msgPath, auth: bearer, body: msg("claude-sonnet-4.5", true), status: 502, errType: "api_error",
			upstream: fallback, setup: func() {
				e.fake.SetMessagesFault(copilottest.Fault{Status: 500, Count: 1})
				e.fake.SetChatFault(copilottest.Fault{Status: 502, Count: 1})
			}},
		{name: "upstream unreachable", method: "POST", path: msgPath, auth: bearer, body: msg("fault-unreachable", false), status: 502, errType: "api_error"},
		{name: "copilot unavailable", method: "POST", path: msgPath, auth: bearer, body: msg("fault-unavailable", true), status: 503, errType: "overloaded_error"},
		{name: "upstream timeout", method: "POST", path: msgPath, auth: bearer, body: msg("fault-timeout", false), status: 504, errType: "api_error"},
		// Budgets: the remaining budget on every answer to a key with one;
		// a spent budget and an unreadable spend refuse before Copilot, in
		// the Anthropic shape with the gateway's code.
		{name: "native with a budget", method: "POST", path: msgPath, auth: "Bearer " + e.budgeted, body: msg("claude-sonnet-4.5", false), status: 200, upstream: native,
			headers: []string{"X-Copilot-Proxy-Budget-Remaining"}},
		{name: "translated stream with a budget", method: "POST", path: msgPath, auth: "Bearer " + e.budgeted, body: msg("gpt-4o", true), status: 200, upstream: translated,
			events: stream, last: "message_stop", headers: []string{"X-Copilot-Proxy-Budget-Remaining"}},
		{name: "budget exceeded", method: "POST", path: msgPath, auth: "Bearer " + e.spent, body: msg("claude-sonnet-4.5", false), status: 429, errType: "rate_limit_error", code: "budget_exceeded",
			headers: []string{"Retry-After", "Retry-After-Ms", "X-Should-Retry", "X-Copilot-Proxy-Budget-Remaining"}, upstream: []string{}},
		{name: "limits unavailable", method: "POST", path: msgPath, apiKey: e.unreadable, body: msg("gpt-4o", false), status: 503, errType: "overloaded_error", code: "limits_unavailable",
			upstream: []string{}},
	}
	// Two failed key attempts above, a third here, reach the per-address
	// limit (FailLimit 3): the fourth is a 429.
	calls = append(calls,
		call{name: "count_tokens bad key", method: "POST", path: countPath, apiKey: "cpk_wrong", body: msg("gpt-4o", false), status: 401, errType: "authentication_error"},
		call{name: "too many failed key attempts", method: "POST", path: msgPath, apiKey: "cpk_wrong", body: msg("gpt-4o", false), status: 429, errType: "rate_limit_error",
			headers: []string{"Retry-After", "Retry-After-Ms", "X-Should-Retry"}},
	)

	seen := map[string]bool{}
	for _, c := range calls {
		if typ, ok := check(t, doc, e, c); ok && typ != "" {
			seen[typ] = true
		}
	}
	// Routing errors are not operations: under /v1/messages they are in the
	// Anthropic shape too; check them against their response components.
	for _, c := range []call{
		{name: "GET /v1/messages", method: "GET", path: msgPath, auth: bearer, status: 405, errType: "invalid_request_error", template: "AnthropicMethodNotAllowed", headers: []string{"Allow"}},
		{name: "GET /v1/messages/count_tokens", method: "GET", path: countPath, auth: bearer, status: 405, errType: "invalid_request_error", template: "AnthropicMethodNotAllowed"},
		{name: "unknown path under /v1/messages", method: "POST", path: msgPath + "/batches", auth: bearer, body: "{}", status: 404, errType: "not_found_error", template: "AnthropicNotFound"},
	} {
		resp, body := send(t, e.ts, c)
		var ae struct {
			Type  string                `json:"type"`
			Error struct{ Type string } `json:"error"`
		}
		if resp.StatusCode != c.status || json.Unmarshal(body, &ae) != nil || ae.Type != "error" || ae.Error.Type != c.errType {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, body, c.status, c.errType)
			continue
		}
		for _, h := range c.headers {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", c.name, h)
			}
		}
		if err := validateComponent(doc, c.template, resp, body); err != nil {
			t.Errorf("%s: does not match components/responses/%s: %v", c.name, c.template, err)
		}
	}

	// Every Anthropic error type the gateway sends was produced above.
	for _, v := range doc.Components.Schemas["AnthropicErrorType"].Value.Enum {
		if typ := v.(string); !seen[typ] {
			t.Errorf("no contract case produces Anthropic error type %q", typ)
		}
	}
}

// TestMessagesKeepalive: during upstream silence the gateway sends its
// own ping events into a Messages stream, native and translated.
func TestMessagesKeepalive(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	e := newEnvConfig(t, gateway.Config{Keepalive: 20 * time.Millisecond})
	e.fake.SetStream(2, 70*time.Millisecond)
	for _, c := range []call{
		{name: "native keepalive", method: "POST", path: msgPath, auth: "Bearer " + e.key, body: fmt.Sprintf(claudeTurn, "claude-sonnet-4.5", true), status: 200,
			upstream: []string{copilottest.PathMessages}, events: "MessageStreamEvent", last: "message_stop", contains: []string{`{"type": "ping"}`}},
		{name: "translated keepalive", method: "POST", path: msgPath, auth: "Bearer " + e.key, body: fmt.Sprintf(claudeTurn, "gpt-4o", true), status: 200,
			upstream: []string{copilottest.PathChat}, events: "MessageStreamEvent", last: "message_stop", contains: []string{`{"type": "ping"}`}},
	} {
		check(t, doc, e, c)
	}
}
