package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

const adminToken = "admin-token-0123456789abcdef"

// faultUpstream answers from the fake Copilot (through the real copilot
// transport) unless the request's model names a fault, so every error kind
// can be produced on demand.
type faultUpstream struct{ t *copilot.Transport }

func (u faultUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	var body struct {
		Model string `json:"model"`
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(rc)
		_ = json.Unmarshal(b, &body)
	}
	jsonResp := func(status int, h http.Header, s string) *http.Response {
		if h == nil {
			h = http.Header{}
		}
		h.Set("Content-Type", "application/json")
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(s)), ContentLength: int64(len(s))}
	}
	switch body.Model {
	case "fault-unavailable":
		return nil, unavailable(errors.New("GitHub refused the token"))
	case "fault-timeout":
		return nil, context.DeadlineExceeded
	case "fault-unreachable":
		return nil, errors.New("dial tcp: connection refused")
	case "fault-panic":
		panic("a bug")
	case "fault-500":
		return jsonResp(500, nil, `{"error":{"message":"boom"}}`), nil
	case "fault-400":
		return jsonResp(400, nil, `{"error":{"message":"prompt too long","type":"invalid_request_error","code":"context_length_exceeded","param":"messages"}}`), nil
	case "fault-404":
		return jsonResp(404, nil, `{"error":{"message":"no such model"}}`), nil
	case "fault-422":
		return jsonResp(422, nil, `{"error":{"message":"unprocessable","code":"bad_thing"}}`), nil
	case "fault-429":
		return jsonResp(429, http.Header{"Retry-After": {"7"}}, `{"error":{"message":"slow down","code":"rate_limited"}}`), nil
	}
	return u.t.RoundTrip(req)
}

// unavailable is the transport's error when no Copilot token can be had.
func unavailable(cause error) error { return &copilot.UnavailableError{Cause: cause} }

type env struct {
	fake   *copilottest.Server
	srv    *gateway.Server
	ts     *httptest.Server
	store  *keys.Store
	key    string // unlimited
	narrow string // rpm 2, tpm limited, models [gpt-4o]
	// Keys with a budget: room to spare, none at all (0 credits), and
	// one whose spend cannot be read (the budget's Spend fails for it).
	budgeted, spent, unreadable string
}

// errSpendUnreadable is the budget's Spend failing, for limits_unavailable.
var errSpendUnreadable = errors.New("the usage table is unreadable")

// newEnv runs the gateway with every optional dependency, so every route is
// registered: keys, limits, admin token, quota, metrics.
func newEnv(t *testing.T, maxBody int64) *env {
	t.Helper()
	return newEnvConfig(t, gateway.Config{MaxBody: maxBody})
}

// newEnvConfig is newEnv with a gateway configuration.
func newEnvConfig(t *testing.T, cfg gateway.Config) *env {
	t.Helper()
	fake := copilottest.New(t)
	// The gateway refuses models Copilot does not list: list the models
	// faultUpstream answers for, and the one the narrow key may not use.
	fake.SetModelsJSON(withModels(t, "fault-400", "fault-404", "fault-422", "fault-429", "fault-500",
		"fault-panic", "fault-unavailable", "fault-timeout", "fault-unreachable", "gpt-4.1"))
	hc := fake.Client()
	auth := copilot.NewAuth(hc, fake.URL(), copilottest.GitHubToken, copilot.DefaultEditor())
	tokens := copilot.NewTokenManager(copilot.TokenManagerConfig{Exchange: auth.Exchange, Logger: zerolog.Nop()})
	tokens.Start()
	t.Cleanup(tokens.Close)
	tr := &copilot.Transport{Source: tokens, Base: hc.Transport, Endpoint: copilot.Endpoint{BaseURL: fake.URL()}}

	store, err := keys.Open(context.Background(), t.TempDir()+"/keys.db", keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	limiter := middleware.NewLimiter(middleware.LimitConfig{})
	t.Cleanup(limiter.Close)

	e := &env{fake: fake, store: store}
	var unreadableID atomic.Pointer[string]
	budgets := middleware.NewBudgets(middleware.BudgetConfig{
		Spend: func(ctx context.Context, keyID string, from, to time.Time) (int64, error) {
			if id := unreadableID.Load(); id != nil && keyID == *id {
				return 0, errSpendUnreadable
			}
			return store.Spend(ctx, keyID, from, to)
		},
	})
	e.srv = gateway.NewServer(gateway.Deps{
		Logger:      zerolog.New(io.Discard),
		Upstream:    &copilot.Transport{Source: tokens, Base: faultUpstream{tr}, Endpoint: copilot.Endpoint{BaseURL: fake.URL()}},
		UpstreamURL: fake.URL(),
		Keys:        store,
		AuthConfig:  middleware.AuthConfig{FailLimit: 3},
		Limiter:     limiter,
		Budgets:     budgets,
		AdminToken:  adminToken,
		Quota: func() any {
			return map[string]any{"headers": nil, "account": nil, "account_error": "not fetched yet"}
		},
		Metrics:      metrics.New(metrics.Config{}),
		ServeMetrics: true,
		Config:       cfg,
	})
	t.Cleanup(e.srv.Close) // after e.ts.Close: cleanups run last in, first out
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close)

	two, tpm := 2, 1000
	k, err := store.Create(context.Background(), keys.CreateParams{Name: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	e.key = k.Secret
	k, err = store.Create(context.Background(), keys.CreateParams{Name: "narrow", RPM: &two, TPM: &tpm, Models: []string{"gpt-4o"}})
	if err != nil {
		t.Fatal(err)
	}
	e.narrow = k.Secret
	for _, b := range []struct {
		name   string
		nano   int64
		secret *string
	}{{"budgeted", 1000 * 1e9, &e.budgeted}, {"spent", 0, &e.spent}, {"unreadable", 5 * 1e9, &e.unreadable}} {
		k, err := store.Create(context.Background(), keys.CreateParams{Name: b.name, Budget: &b.nano})
		if err != nil {
			t.Fatal(err)
		}
		*b.secret = k.Secret
		if b.name == "unreadable" {
			unreadableID.Store(&k.ID)
		}
	}
	return e
}

// templatePath normalizes a path template: chi's {name} and catch-all *,
// and OpenAPI's {name}, all become {}.
var paramRE = regexp.MustCompile(`\{[^}]*\}|\*$`)

func templatePath(p string) string { return paramRE.ReplaceAllString(p, "{}") }

// TestRoutesMatchSpec walks the router: every route it serves is in the
// document with that method, and every operation in the document is served.
// Removing a route from either side fails.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	e := newEnv(t, 0)

	served := map[string]bool{}
	err := chi.Walk(e.srv.Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[method+" "+templatePath(route)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+templatePath(path)] = true
		}
	}
	if len(served) < 20 {
		t.Fatalf("walked only %d routes: %v", len(served), served)
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("the router serves %s, which openapi.yaml does not document", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.yaml documents %s, which the router does not serve", r)
		}
	}
}

// call is one request of the contract test and what it must produce.
type call struct {
	name         string
	method, path string      // path as sent
	template     string      // the document's path
	auth         string      // Authorization value
	apiKey       string      // x-api-key value
	header       http.Header // more request headers
	contentType  string
	body         string
	status       int
	code         string   // error.code, when an error (OpenAI envelope; with errType, the Anthropic shape's)
	errType      string   // error.type, when an error in the Anthropic shape
	headers      []string // headers that must be present beyond the document's required ones
	contains     []string // text the body must contain
	// upstream, when set, is the Copilot API paths (inference routes only)
	// the request must reach, in order: which way it went.
	upstream []string
	// forwarded names request headers that must reach Copilot on every
	// upstream request of the call.
	forwarded []string
	// events names the schema component each event of a stream answer
	// must match (ResponseStreamEvent, ChatCompletionChunk,
	// MessageStreamEvent); "" leaves the stream a plain string.
	events string
	// last is the type of the stream's last event, when set.
	last string
	// setup runs just before the request (e.g. to set a fault in the fake).
	setup func()
}

func TestResponsesMatchSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	e := newEnv(t, 4096)
	bearer := "Bearer " + e.key
	narrow := "Bearer " + e.narrow
	admin := "Bearer " + adminToken
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	const chatPath = "/v1/chat/completions"
	const respPath = "/v1/responses"
	responses := func(model string) string {
		return `{"model":"` + model + `","input":"hi"}`
	}
	// A key whose allow-list lacks gpt-5-codex, with no request limit (the
	// narrow key's two requests a minute are counted below).
	k, err := e.store.Create(context.Background(), keys.CreateParams{Name: "gpt-4o-only", Models: []string{"gpt-4o"}})
	if err != nil {
		t.Fatal(err)
	}
	only4o := "Bearer " + k.Secret
	// A Responses request in the item form with a function tool, the
	// fields a Codex turn sends.
	const codexTurn = `{"model":"%s","instructions":"Be brief.","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],` +
		`"tools":[{"type":"function","name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":false}],` +
		`"tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"low","summary":"auto"},"include":["reasoning.encrypted_content"],` +
		`"store":false,"stream":%t,"prompt_cache_key":"k1","text":{"verbosity":"low"},"metadata":{"a":"b"},"truncation":"auto"}`
	// The same turn when the user asks for the tool (the fake's convention).
	toolTurn := func(model string, stream bool) string {
		return strings.Replace(fmt.Sprintf(codexTurn, model, stream), `"text":"hi"`, `"text":"`+copilottest.ToolTrigger+` get_weather"`, 1)
	}
	calls := []call{
		// Success, every route.
		{name: "chat json", method: "POST", path: chatPath, auth: bearer, contentType: "application/json", body: chat("gpt-4o"), status: 200},
		{name: "chat stream", method: "POST", path: chatPath, apiKey: e.key, contentType: "application/json", body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, status: 200, events: "ChatCompletionChunk"},
		{name: "chat no prefix", method: "POST", path: "/chat/completions", auth: bearer, body: chat("gpt-4o"), status: 200},
		// The Responses API: passthrough (gpt-5-codex is served at
		// /responses only) and translated through chat (gpt-4o is served at
		// /chat/completions only), as JSON and as streams; and chat
		// completions translated through /responses. No model list is
		// cached yet, so the first translated request of each kind goes
		// through the unsupported_api_for_model fallback.
		{name: "responses passthrough", method: "POST", path: respPath, auth: bearer, contentType: "application/json", body: responses("gpt-5-codex"), status: 200},
		{name: "responses passthrough items", method: "POST", path: respPath, auth: bearer, body: fmt.Sprintf(codexTurn, "gpt-5-codex", false), status: 200},
		{name: "responses passthrough tool call", method: "POST", path: respPath, auth: bearer, body: toolTurn("gpt-5-codex", false), status: 200},
		{name: "responses translated", method: "POST", path: respPath, auth: bearer, contentType: "application/json", body: responses("gpt-4o"), status: 200},
		{name: "responses translated items", method: "POST", path: respPath, auth: bearer, body: fmt.Sprintf(codexTurn, "gpt-4o", false), status: 200},
		{name: "responses translated tool call", method: "POST", path: respPath, auth: bearer, body: toolTurn("gpt-4o", false), status: 200},
		{name: "responses no prefix", method: "POST", path: "/responses", auth: bearer, body: responses("gpt-5-codex"), status: 200},
		{name: "responses passthrough stream", method: "POST", path: respPath, auth: bearer, body: fmt.Sprintf(codexTurn, "gpt-5-codex", true), status: 200, events: "ResponseStreamEvent", last: "response.completed"},
		{name: "responses passthrough stream tool call", method: "POST", path: respPath, auth: bearer, body: toolTurn("gpt-5-codex", true), status: 200, events: "ResponseStreamEvent", last: "response.completed"},
		{name: "responses translated stream", method: "POST", path: "/responses", auth: bearer, body: fmt.Sprintf(codexTurn, "gpt-4o", true), status: 200, events: "ResponseStreamEvent", last: "response.completed"},
		{name: "responses translated stream tool call", method: "POST", path: respPath, auth: bearer, body: toolTurn("gpt-4o", true), status: 200, events: "ResponseStreamEvent", last: "response.completed"},
		{name: "responses passthrough stream broken", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-5-codex","input":"hi","stream":true}`, status: 200, events: "ResponseStreamEvent", last: "response.failed",
			setup: func() { e.fake.SetResponsesFault(copilottest.Fault{DropAfter: 3, Count: 1}) }},
		{name: "responses translated stream broken", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-4o","input":"hi","stream":true}`, status: 200, events: "ResponseStreamEvent", last: "response.failed",
			setup: func() { e.fake.SetChatFault(copilottest.Fault{DropAfter: 2, Count: 1}) }},
		{name: "chat translated", method: "POST", path: chatPath, auth: bearer, body: chat("gpt-5-codex"), status: 200},
		{name: "chat translated stream", method: "POST", path: chatPath, auth: bearer, body: `{"model":"gpt-5-codex","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, status: 200, events: "ChatCompletionChunk"},
		{name: "embeddings", method: "POST", path: "/v1/embeddings", auth: bearer, contentType: "application/json", body: `{"model":"text-embedding-3-small","input":"hello"}`, status: 200},
		{name: "embeddings base64", method: "POST", path: "/embeddings", auth: bearer, contentType: "application/json", body: `{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64"}`, status: 200},
		{name: "models", method: "GET", path: "/v1/models", auth: bearer, status: 200},
		{name: "models no prefix", method: "GET", path: "/models", auth: bearer, status: 200},
		{name: "models of a narrow key", method: "GET", path: "/v1/models", auth: narrow, status: 200, headers: []string{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Limit-Tokens"}},
		{name: "model", method: "GET", path: "/v1/models/gpt-4o", template: "/v1/models/{id}", auth: bearer, status: 200},
		{name: "model no prefix", method: "GET", path: "/models/gpt-4o", template: "/models/{id}", auth: bearer, status: 200},
		{name: "quota", method: "GET", path: "/v1/usage/quota", auth: bearer, status: 200},
		{name: "admin list", method: "GET", path: "/admin/keys", auth: admin, status: 200},
		{name: "admin create", method: "POST", path: "/admin/keys", auth: admin, contentType: "application/json", body: `{"name":"carol","rpm":5,"models":["gpt-4o"],"expires":"30d"}`, status: 201},
		{name: "admin rotate", method: "POST", path: "/admin/keys/carol/rotate", template: "/admin/keys/{id}/rotate", auth: admin, body: `{"grace":"0s"}`, status: 200},
		{name: "admin create with a budget", method: "POST", path: "/admin/keys", auth: admin, body: `{"name":"dora","budget_credits":12.5,"budget_period":"week"}`, status: 201,
			contains: []string{`"budget_credits":12.5`, `"budget_period":"week"`}},
		{name: "admin update", method: "PATCH", path: "/admin/keys/carol", template: "/admin/keys/{id}", auth: admin,
			body: `{"rpm":null,"tpm":100,"models":null,"budget_credits":0.25,"budget_period":"day","expires_at":null}`, status: 200,
			contains: []string{`"rpm":null`, `"tpm":100`, `"budget_credits":0.25`, `"budget_period":"day"`, `"expires_at":null`}},
		{name: "admin update clears the budget", method: "PATCH", path: "/admin/keys/carol", template: "/admin/keys/{id}", auth: admin, body: `{"budget_credits":null}`, status: 200,
			contains: []string{`"budget_credits":null`}},
		{name: "admin update nothing", method: "PATCH", path: "/admin/keys/carol", template: "/admin/keys/{id}", auth: admin, body: `{}`, status: 200},
		{name: "admin revoke", method: "POST", path: "/admin/keys/carol/revoke", template: "/admin/keys/{id}/revoke", auth: admin, status: 200},
		{name: "admin update revoked", method: "PATCH", path: "/admin/keys/carol", template: "/admin/keys/{id}", auth: admin, body: `{"rpm":5}`, status: 400, code: "invalid_request_error"},
		{name: "admin usage", method: "GET", path: "/admin/usage?since=7d", template: "/admin/usage", auth: admin, status: 200},
		{name: "root", method: "GET", path: "/", status: 200},
		{name: "root head", method: "HEAD", path: "/", status: 200},
		{name: "healthz", method: "GET", path: "/healthz", status: 200},
		{name: "metrics", method: "GET", path: "/metrics", auth: admin, status: 200},
		{name: "openapi.yaml", method: "GET", path: "/openapi.yaml", status: 200},
		{name: "openapi.json", method: "GET", path: "/openapi.json", status: 200},
		{name: "docs", method: "GET", path: "/docs", status: 200},

		// Every error kind.
		{name: "invalid_json", method: "POST", path: chatPath, auth: bearer, body: `{"model":`, status: 400, code: "invalid_json"},
		{name: "missing_required_parameter", method: "POST", path: chatPath, auth: bearer, body: `{"messages":[{"role":"user","content":"x"}]}`, status: 400, code: "missing_required_parameter"},
		{name: "invalid_request_error", method: "POST", path: "/v1/embeddings", auth: bearer, body: `{"model":"m","input":[]}`, status: 400, code: "invalid_request_error"},
		{name: "responses invalid_json", method: "POST", path: respPath, auth: bearer, body: `{"model":`, status: 400, code: "invalid_json"},
		{name: "responses no input", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-5-codex"}`, status: 400, code: "missing_required_parameter"},
		{name: "responses no model", method: "POST", path: "/responses", auth: bearer, body: `{"input":"hi"}`, status: 400, code: "missing_required_parameter"},
		{name: "responses input of the wrong shape", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-4o","input":42}`, status: 400, code: "invalid_request_error"},
		{name: "responses case variant", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-5-codex","input":"hi","Stream":true}`, status: 400, code: "invalid_request_error"},
		{name: "responses untranslatable", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-4o","input":[{"type":"message","role":"narrator","content":"hi"}]}`, status: 400, code: "invalid_request_error"},
		{name: "responses upstream 400 kept", method: "POST", path: respPath, auth: bearer, body: responses("fault-400"), status: 400, code: "context_length_exceeded"},
		{name: "upstream 400 kept", method: "POST", path: chatPath, auth: bearer, body: chat("fault-400"), status: 400, code: "context_length_exceeded"},
		{name: "admin invalid_json (unknown field)", method: "POST", path: "/admin/keys", auth: admin, body: `{"name":"x","rmp":5}`, status: 400, code: "invalid_json"},
		{name: "admin create negative budget", method: "POST", path: "/admin/keys", auth: admin, body: `{"name":"x","budget_credits":-1}`, status: 400, code: "invalid_request_error", contains: []string{`"param":"budget_credits"`}},
		{name: "admin update bad period", method: "PATCH", path: "/admin/keys/wide", template: "/admin/keys/{id}", auth: admin, body: `{"budget_credits":5,"budget_period":"year"}`, status: 400, code: "invalid_request_error", contains: []string{`"param":"budget_period"`}},
		{name: "admin update unknown field", method: "PATCH", path: "/admin/keys/wide", template: "/admin/keys/{id}", auth: admin, body: `{"name":"x"}`, status: 400, code: "invalid_json"},
		{name: "admin update both expiries", method: "PATCH", path: "/admin/keys/wide", template: "/admin/keys/{id}", auth: admin, body: `{"expires":"30d","expires_at":"2030-01-01T00:00:00Z"}`, status: 400, code: "invalid_request_error"},
		{name: "admin update not_found", method: "PATCH", path: "/admin/keys/nobody", template: "/admin/keys/{id}", auth: admin, body: `{"rpm":5}`, status: 404, code: "not_found"},
		{name: "admin invalid grace", method: "POST", path: "/admin/keys/wide/rotate", template: "/admin/keys/{id}/rotate", auth: admin, body: `{"grace":"soon"}`, status: 400, code: "invalid_request_error"},
		{name: "admin invalid since", method: "GET", path: "/admin/usage?since=never", template: "/admin/usage", auth: admin, status: 400, code: "invalid_request_error"},
		{name: "invalid_api_key", method: "POST", path: chatPath, body: chat("gpt-4o"), status: 401, code: "invalid_api_key", headers: []string{"X-Should-Retry", "Www-Authenticate"}},
		{name: "invalid_api_key x-api-key", method: "GET", path: "/v1/models", apiKey: "cpk_nope", status: 401, code: "invalid_api_key"},
		{name: "admin invalid token", method: "GET", path: "/admin/keys", auth: bearer, status: 401, code: "invalid_api_key"},
		{name: "metrics without the admin token", method: "GET", path: "/metrics", status: 401, code: "invalid_api_key"},
		{name: "model_not_allowed", method: "POST", path: chatPath, auth: narrow, body: chat("gpt-4.1"), status: 403, code: "model_not_allowed"},
		{name: "responses model_not_allowed", method: "POST", path: respPath, auth: only4o, body: responses("gpt-5-codex"), status: 403, code: "model_not_allowed"},
		{name: "model_not_found", method: "GET", path: "/v1/models/no-such-model", template: "/v1/models/{id}", auth: bearer, status: 404, code: "model_not_found"},
		{name: "admin not_found", method: "POST", path: "/admin/keys/nobody/revoke", template: "/admin/keys/{id}/revoke", auth: admin, status: 404, code: "not_found"},
		{name: "admin usage not_found", method: "GET", path: "/admin/usage?key=nobody", template: "/admin/usage", auth: admin, status: 404, code: "not_found"},
		{name: "upstream 404 kept", method: "POST", path: chatPath, auth: bearer, body: chat("fault-404"), status: 404, code: "not_found"},
		{name: "not_supported (GET)", method: "GET", path: respPath + "/resp_0123", template: "/v1/responses/{id}", auth: bearer, status: 404, code: "not_supported"},
		{name: "not_supported (DELETE)", method: "DELETE", path: respPath + "/resp_0123", template: "/v1/responses/{id}", auth: bearer, status: 404, code: "not_supported"},
		{name: "responses upstream 404 kept", method: "POST", path: respPath, auth: bearer, body: responses("fault-404"), status: 404, code: "not_found"},
		{name: "conflict", method: "POST", path: "/admin/keys", auth: admin, body: `{"name":"wide"}`, status: 409, code: "conflict"},
		{name: "request_too_large", method: "POST", path: chatPath, auth: bearer, body: `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, status: 413, code: "request_too_large"},
		{name: "admin request_too_large", method: "POST", path: "/admin/keys", auth: admin, body: `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, status: 413, code: "request_too_large"},
		{name: "responses request_too_large", method: "POST", path: respPath, auth: bearer, body: `{"model":"gpt-4o","input":"` + strings.Repeat("x", 5000) + `"}`, status: 413, code: "request_too_large"},
		{name: "responses unsupported_media_type", method: "POST", path: "/responses", auth: bearer, contentType: "text/plain", body: responses("gpt-4o"), status: 415, code: "unsupported_media_type"},
		{name: "unsupported_media_type", method: "POST", path: chatPath, auth: bearer, contentType: "application/x-www-form-urlencoded", body: chat("gpt-4o"), status: 415, code: "unsupported_media_type"},
		{name: "no content type", method: "POST", path: chatPath, auth: bearer, contentType: noContentType, body: chat("gpt-4o"), status: 415, code: "unsupported_media_type"},
		{name: "upstream 422 kept", method: "POST", path: "/v1/embeddings", auth: bearer, body: `{"model":"fault-422","input":"x"}`, status: 422, code: "bad_thing"},
		{name: "upstream 429 kept", method: "POST", path: chatPath, auth: bearer, body: chat("fault-429"), status: 429, code: "rate_limited", headers: []string{"Retry-After"}},
		{name: "responses upstream 429 kept", method: "POST", path: respPath, auth: bearer, body: responses("fault-429"), status: 429, code: "rate_limited", headers: []string{"Retry-After"}},
		{name: "responses upstream 422 kept", method: "POST", path: respPath, auth: bearer, body: responses("fault-422"), status: 422, code: "bad_thing"},
		{name: "responses internal_error", method: "POST", path: respPath, auth: bearer, body: responses("fault-panic"), status: 500, code: "internal_error"},
		{name: "responses upstream_error", method: "POST", path: respPath, auth: bearer, body: responses("fault-500"), status: 502, code: "upstream_error"},
		{name: "responses copilot_unavailable", method: "POST", path: "/responses", auth: bearer, body: responses("fault-unavailable"), status: 503, code: "copilot_unavailable"},
		{name: "responses upstream_timeout", method: "POST", path: respPath, auth: bearer, body: responses("fault-timeout"), status: 504, code: "upstream_timeout"},
		{name: "internal_error", method: "POST", path: chatPath, auth: bearer, body: chat("fault-panic"), status: 500, code: "internal_error"},
		{name: "upstream_error (5xx)", method: "POST", path: chatPath, auth: bearer, body: chat("fault-500"), status: 502, code: "upstream_error"},
		{name: "upstream_error (unreachable)", method: "POST", path: "/v1/embeddings", auth: bearer, body: `{"model":"fault-unreachable","input":"x"}`, status: 502, code: "upstream_error"},
		{name: "copilot_unavailable", method: "POST", path: chatPath, auth: bearer, body: chat("fault-unavailable"), status: 503, code: "copilot_unavailable"},
		{name: "upstream_timeout", method: "POST", path: chatPath, auth: bearer, body: chat("fault-timeout"), status: 504, code: "upstream_timeout"},
		// Budgets: the remaining budget on every answer to a key with one;
		// a spent budget and an unreadable spend refuse before Copilot.
		{name: "chat with a budget", method: "POST", path: chatPath, auth: "Bearer " + e.budgeted, body: chat("gpt-4o"), status: 200, headers: []string{"X-Copilot-Proxy-Budget-Remaining"}},
		{name: "responses with a budget", method: "POST", path: "/responses", auth: "Bearer " + e.budgeted, body: responses("gpt-5-codex"), status: 200, headers: []string{"X-Copilot-Proxy-Budget-Remaining"}},
		{name: "embeddings with a budget", method: "POST", path: "/embeddings", auth: "Bearer " + e.budgeted, body: `{"model":"text-embedding-3-small","input":"hello"}`, status: 200, headers: []string{"X-Copilot-Proxy-Budget-Remaining"}},
		{name: "budget_exceeded", method: "POST", path: chatPath, auth: "Bearer " + e.spent, body: chat("gpt-4o"), status: 429, code: "budget_exceeded", upstream: []string{},
			headers: []string{"Retry-After", "Retry-After-Ms", "X-Should-Retry", "X-Copilot-Proxy-Budget-Remaining"}, contains: []string{`"type":"insufficient_quota"`}},
		{name: "responses budget_exceeded", method: "POST", path: respPath, auth: "Bearer " + e.spent, body: responses("gpt-5-codex"), status: 429, code: "budget_exceeded", upstream: []string{},
			headers: []string{"Retry-After", "X-Should-Retry"}},
		{name: "embeddings budget_exceeded", method: "POST", path: "/v1/embeddings", auth: "Bearer " + e.spent, body: `{"model":"text-embedding-3-small","input":"x"}`, status: 429, code: "budget_exceeded", upstream: []string{}},
		{name: "limits_unavailable", method: "POST", path: "/chat/completions", auth: "Bearer " + e.unreadable, body: chat("gpt-4o"), status: 503, code: "limits_unavailable", upstream: []string{}},
		{name: "responses limits_unavailable", method: "POST", path: respPath, auth: "Bearer " + e.unreadable, body: responses("gpt-5-codex"), status: 503, code: "limits_unavailable", upstream: []string{}},
		{name: "embeddings limits_unavailable", method: "POST", path: "/embeddings", auth: "Bearer " + e.unreadable, body: `{"model":"text-embedding-3-small","input":"x"}`, status: 503, code: "limits_unavailable", upstream: []string{}},
		// The narrow key's two requests a minute were used above.
		{name: "rate_limit_exceeded (rpm)", method: "GET", path: "/v1/models", auth: narrow, status: 429, code: "rate_limit_exceeded", headers: []string{"Retry-After", "Retry-After-Ms", "X-Ratelimit-Remaining-Requests"}},
	}
	// Two client-key failures above, a third here, reach the per-address
	// limit (FailLimit 3): the fourth is a 429.
	calls = append(calls, call{name: "failed attempt", method: "GET", path: "/v1/models", auth: "Bearer cpk_wrong", status: 401, code: "invalid_api_key"})
	calls = append(calls, call{name: "rate_limit_exceeded (auth failures)", method: "GET", path: "/v1/models", auth: "Bearer cpk_wrong", status: 429, code: "rate_limit_exceeded", headers: []string{"Retry-After", "Retry-After-Ms", "X-Should-Retry"}})

	seenCodes := map[string]bool{}
	for _, c := range calls {
		if code, ok := check(t, doc, e, c); ok && code != "" {
			seenCodes[code] = true
		}
	}

	// Routing errors are not operations: check them against their response
	// components.
	for _, c := range []call{
		{name: "not_found", method: "GET", path: "/v1/nothing?key=secret", status: 404, code: "not_found", template: "NotFound"},
		{name: "method_not_allowed", method: "GET", path: chatPath, auth: bearer, status: 405, code: "method_not_allowed", template: "MethodNotAllowed"},
	} {
		resp, body := send(t, e.ts, c)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.status)
			continue
		}
		seenCodes[c.code] = true
		if err := validateComponent(doc, c.template, resp, body); err != nil {
			t.Errorf("%s: does not match components/responses/%s: %v", c.name, c.template, err)
		}
	}

	// Every code the gateway can send was produced above ("forbidden" is
	// reserved: no route sends it).
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		if code := v.(string); !seenCodes[code] && code != "forbidden" {
			t.Errorf("no contract case produces error code %q", code)
		}
	}
}

// check sends c (after its setup) and holds the answer to c and to the
// document: the status, the error's code (OpenAI envelope) or type
// (Anthropic shape), headers, body text, the way the request went
// upstream, the response against the operation and each stream event
// against its schema. It returns the error's code or type ("" for none)
// and whether the status was the expected one.
func check(t *testing.T, doc *openapi3.T, e *env, c call) (string, bool) {
	t.Helper()
	if c.setup != nil {
		c.setup()
	}
	before := len(e.fake.Requests())
	resp, body := send(t, e.ts, c)
	if resp.StatusCode != c.status {
		t.Errorf("%s: status %d, want %d (%s)", c.name, resp.StatusCode, c.status, body)
		return "", false
	}
	var got string
	switch {
	case c.errType != "":
		var env struct {
			Type  string                               `json:"type"`
			Error struct{ Type, Message, Code string } `json:"error"`
		}
		_ = json.Unmarshal(body, &env)
		if got = env.Error.Type; env.Type != "error" || got != c.errType || env.Error.Message == "" {
			t.Errorf("%s: not an Anthropic %s error: %s", c.name, c.errType, body)
		}
		// The gateway's code, an addition to Anthropic's shape.
		if c.code != "" && env.Error.Code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, env.Error.Code, c.code)
		}
	case c.code != "":
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(body, &env)
		if got = env.Error.Code; got != c.code {
			t.Errorf("%s: code %q, want %q", c.name, got, c.code)
		}
	}
	for _, h := range c.headers {
		if resp.Header.Get(h) == "" {
			t.Errorf("%s: no %s header", c.name, h)
		}
	}
	for _, s := range c.contains {
		if !strings.Contains(string(body), s) {
			t.Errorf("%s: the body does not contain %q: %.600s", c.name, s, body)
		}
	}
	if c.upstream != nil || c.forwarded != nil {
		var paths []string
		for _, r := range e.fake.Requests()[before:] {
			switch r.Path {
			case copilottest.PathChat, copilottest.PathResponses, copilottest.PathMessages, copilottest.PathEmbeddings:
				paths = append(paths, r.Path)
				if r.Header.Get("X-Api-Key") != "" {
					t.Errorf("%s: the client key reached Copilot's %s as x-api-key", c.name, r.Path)
				}
				for _, h := range c.forwarded {
					if r.Header.Get(h) != c.header.Get(h) {
						t.Errorf("%s: %s reached Copilot's %s as %q, want %q", c.name, h, r.Path, r.Header.Get(h), c.header.Get(h))
					}
				}
			}
		}
		if c.upstream != nil && !slices.Equal(paths, c.upstream) {
			t.Errorf("%s: went to Copilot's %v, want %v", c.name, paths, c.upstream)
		}
	}
	template := c.template
	if template == "" {
		template, _, _ = strings.Cut(c.path, "?")
	}
	if err := validate(doc, c.method, template, resp, body); err != nil {
		t.Errorf("%s: %s %s %d does not match openapi.yaml: %v\nbody: %.300s", c.name, c.method, c.path, resp.StatusCode, err, body)
	}
	if c.events != "" {
		last, err := validateEvents(doc, c.events, resp, body)
		if err != nil {
			t.Errorf("%s: the stream does not match components/schemas/%s: %v\nbody: %.600s", c.name, c.events, err, body)
		}
		if c.last != "" && last != c.last {
			t.Errorf("%s: the stream's last event is %q, want %q", c.name, last, c.last)
		}
	}
	return got, true
}

// noContentType as a call's contentType sends none (send otherwise sends
// application/json with a body, as the SDKs do).
const noContentType = "none"

func send(t *testing.T, ts *httptest.Server, c call) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, ts.URL+c.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.apiKey != "" {
		req.Header.Set("X-Api-Key", c.apiKey)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	switch {
	case c.contentType == noContentType:
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case c.body != "":
		req.Header.Set("Content-Type", "application/json") // as the SDKs send it
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return resp, body
}

// validate checks a response against the document's operation for method
// and template, status by status, headers marked required included.
func validate(doc *openapi3.T, method, template string, resp *http.Response, body []byte) error {
	item := doc.Paths.Find(template)
	if item == nil {
		return errors.New("path not in the document")
	}
	op := item.GetOperation(method)
	if op == nil {
		return errors.New("method not in the document")
	}
	if op.Responses.Status(resp.StatusCode) == nil {
		return errors.New("status not documented for this operation")
	}
	req, _ := http.NewRequest(method, "http://gateway"+template, nil)
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: doc, Path: template, PathItem: item, Method: method, Operation: op},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// validateComponent checks a response against a response component: its
// required headers and its JSON schema.
func validateComponent(doc *openapi3.T, name string, resp *http.Response, body []byte) error {
	r := doc.Components.Responses[name]
	if r == nil {
		return errors.New("no such component")
	}
	var errs []error
	for h, ref := range r.Value.Headers {
		if ref.Value.Required && resp.Header.Get(h) == "" {
			errs = append(errs, errors.New("missing required header "+h))
		}
	}
	mt := r.Value.Content.Get(resp.Header.Get("Content-Type"))
	if mt == nil {
		return errors.Join(append(errs, errors.New("undocumented content type "+resp.Header.Get("Content-Type")))...)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateEvents checks a server-sent event stream event by event: the
// data of each event (but chat's final [DONE]) against the schema named
// schema, and, for an event with a name, that its data's type repeats it.
// Comments (the keep-alive) are skipped. It returns the type of the last
// event.
func validateEvents(doc *openapi3.T, schema string, resp *http.Response, body []byte) (last string, err error) {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return "", errors.New("Content-Type " + ct + ", not text/event-stream")
	}
	ref := doc.Components.Schemas[schema]
	if ref == nil {
		return "", errors.New("no such schema")
	}
	var errs []error
	n := 0
	for i, ev := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		var name string
		var data []string
		for _, line := range strings.Split(ev, "\n") {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				name = value
			case "data":
				data = append(data, value)
			}
		}
		if len(data) == 0 {
			continue
		}
		raw := strings.Join(data, "\n")
		if raw == "[DONE]" {
			continue
		}
		n++
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			errs = append(errs, fmt.Errorf("event %d: %w", i, err))
			continue
		}
		if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			errs = append(errs, fmt.Errorf("event %d (%s): %w", i, name, err))
		}
		typ, _ := v.(map[string]any)["type"].(string)
		if name != "" && typ != name {
			errs = append(errs, fmt.Errorf("event %d: named %q, its type is %q", i, name, typ))
		}
		last = typ
	}
	if n == 0 {
		errs = append(errs, errors.New("no event"))
	}
	return last, errors.Join(errs...)
}
