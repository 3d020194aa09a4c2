package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// initiatorCase is one conversation shape and the X-Initiator it must get.
// Bodies say "model":"MODEL" and "stream":false; the run fills in both.
type initiatorCase struct {
	name, body, want string
}

// initiatorPath is a client route with a model that sends it to one
// upstream path (native or translated).
type initiatorPath struct {
	name, route, model, upPath string
	header                     []string // client headers, name and value pairs
	cases                      []initiatorCase
}

// Chat completions, as the OpenAI SDK sends them.
const (
	chatTools   = `"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`
	chatOpening = `{"model":"MODEL","stream":false,` + chatTools + `,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Weather in Paris?"}`
	chatCall    = `,{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}`
)

var chatInitiatorCases = []initiatorCase{
	{"user last", chatOpening + `]}`, "user"},
	{"tool result last", chatOpening + chatCall + `,{"role":"tool","tool_call_id":"call_1","content":"18C, sunny"}]}`, "agent"},
	{"user after tool result", chatOpening + chatCall + `,{"role":"tool","tool_call_id":"call_1","content":"18C"},{"role":"assistant","content":"18C."},{"role":"user","content":"And Rome?"}]}`, "user"},
	{"assistant last", chatOpening + `,{"role":"assistant","content":"It is"}]}`, "agent"},
}

// Responses, as Codex CLI sends them (the OpenAI SDK for the untyped item).
const (
	respHead    = `{"model":"MODEL","stream":false,"store":false,"instructions":"You are Codex.","tool_choice":"auto","parallel_tool_calls":true,"tools":[{"type":"function","name":"shell","description":"Runs a command","strict":false,"parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}},"required":["command"]}}],`
	respOpening = respHead + `"input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"<permissions>workspace-write</permissions>"}]},` +
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context><cwd>/repo</cwd></environment_context>"}]},` +
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]}`
	respCall = `,{"type":"function_call","name":"shell","arguments":"{\"command\":[\"ls\"]}","call_id":"call_1"}`
)

var responsesInitiatorCases = []initiatorCase{
	{"string input", `{"model":"MODEL","stream":false,"input":"Say hi"}`, "user"},
	{"user message last", respOpening + `]}`, "user"},
	{"untyped user message last", `{"model":"MODEL","stream":false,"input":[{"role":"user","content":"Say hi"}]}`, "user"},
	{"function_call_output last", respOpening + respCall + `,{"type":"function_call_output","call_id":"call_1","output":"README.md\n"}]}`, "agent"},
	{"assistant message last", respOpening + respCall + `,{"type":"function_call_output","call_id":"call_1","output":"README.md"},` +
		`{"type":"message","role":"assistant","content":[{"type":"output_text","text":"One file."}]}]}`, "agent"},
}

// Messages, as Claude Code sends them.
const (
	msgHead    = `{"model":"MODEL","max_tokens":32000,"stream":false,"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}],`
	msgOpening = msgHead + `"messages":[{"role":"user","content":[{"type":"text","text":"list the files"}]}`
	msgCall    = `,{"role":"assistant","content":[{"type":"text","text":"Listing."},{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls"}}]}`
	msgResult  = `{"type":"tool_result","tool_use_id":"toolu_01","content":"README.md"}`
)

var messagesInitiatorCases = []initiatorCase{
	{"user text string", msgHead + `"messages":[{"role":"user","content":"hi"}]}`, "user"},
	{"user text blocks", msgOpening + `]}`, "user"},
	{"tool_result", msgOpening + msgCall + `,{"role":"user","content":[` + msgResult + `]}]}`, "agent"},
	{"tool_result and text", msgOpening + msgCall + `,{"role":"user","content":[` + msgResult +
		`,{"type":"text","text":"<system-reminder>keep going</system-reminder>"}]}]}`, "agent"},
	{"user after tool_result", msgOpening + msgCall + `,{"role":"user","content":[` + msgResult + `]},` +
		`{"role":"assistant","content":[{"type":"text","text":"One file."}]},{"role":"user","content":"thanks, now run the tests"}]}`, "user"},
	{"assistant last", msgOpening + `,{"role":"assistant","content":[{"type":"text","text":"Sure"}]}]}`, "agent"},
}

var claudeCodeHeaders = []string{"anthropic-version", "2023-06-01", "anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"}

// Model routes follow copilottest.DefaultModelsJSON: gpt-4o is chat-only,
// gpt-5-codex responses-only, claude-sonnet-4 and 4.5 chat and messages.
var initiatorPaths = []initiatorPath{
	{"chat native", "/v1/chat/completions", "gpt-4o", copilottest.PathChat, nil, chatInitiatorCases},
	{"chat to responses", "/v1/chat/completions", "gpt-5-codex", copilottest.PathResponses, nil, chatInitiatorCases},
	{"responses native", "/v1/responses", "gpt-5-codex", copilottest.PathResponses, nil, responsesInitiatorCases},
	{"responses native gpt-5", "/v1/responses", "gpt-5", copilottest.PathResponses, nil, responsesInitiatorCases},
	{"responses to chat", "/v1/responses", "gpt-4o", copilottest.PathChat, nil, responsesInitiatorCases},
	{"responses to chat claude", "/v1/responses", "claude-sonnet-4", copilottest.PathChat, nil, responsesInitiatorCases},
	{"messages native", "/v1/messages?beta=true", "claude-sonnet-4-5-20250929", copilottest.PathMessages, claudeCodeHeaders, messagesInitiatorCases},
	{"messages to chat", "/v1/messages?beta=true", "gpt-4o", copilottest.PathChat, claudeCodeHeaders, messagesInitiatorCases},
	{"messages to responses", "/v1/messages?beta=true", "gpt-5-codex", copilottest.PathResponses, claudeCodeHeaders, messagesInitiatorCases},
}

// TestInitiatorHonestOnEveryPath: on every API, native and translated,
// streamed and not, the upstream gets X-Initiator "user" only when the last
// message or input item is a user turn that returns no tool results, and
// "agent" otherwise, whatever X-Initiator the client sent.
func TestInitiatorHonestOnEveryPath(t *testing.T) {
	t.Parallel()
	for _, p := range initiatorPaths {
		for _, c := range p.cases {
			for _, stream := range []bool{false, true} {
				mode := "json"
				if stream {
					mode = "stream"
				}
				t.Run(p.name+"/"+c.name+"/"+mode, func(t *testing.T) {
					t.Parallel()
					checkInitiator(t, p, c, stream)
				})
			}
		}
	}
}

// checkInitiator sends c through p on a gateway of its own and checks the
// one inference call the fake Copilot received.
func checkInitiator(t *testing.T, p initiatorPath, c initiatorCase, stream bool) {
	fake := copilottest.New(t)
	ts := startOnFake(t, fake)
	body := initiatorBody(t, c.body, p.model, stream)
	// A client's own X-Initiator must not win: send the opposite.
	lie := map[string]string{"user": "agent", "agent": "user"}[c.want]
	resp, got := sendWithHeaders(t, ts, p.route, body, append([]string{"X-Initiator", lie}, p.header...))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	wantType := "application/json"
	if stream {
		wantType = "text/event-stream"
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
		t.Errorf("Content-Type %q, want %s", ct, wantType)
	}
	calls := inferenceCalls(fake)
	if len(calls) != 1 {
		t.Fatalf("%d inference calls upstream (%v), want 1", len(calls), callPaths(calls))
	}
	up := calls[0]
	if up.Path != p.upPath {
		t.Errorf("upstream path %s, want %s", up.Path, p.upPath)
	}
	if v := up.Header.Values("X-Initiator"); len(v) != 1 || v[0] != c.want {
		t.Errorf("upstream X-Initiator %q, want %q", v, c.want)
	}
	if isStream := up.Header.Get("Accept") == "text/event-stream"; isStream != stream {
		t.Errorf("upstream Accept %q with stream=%v", up.Header.Get("Accept"), stream)
	}
}

// initiatorBody fills in the model and the stream flag.
func initiatorBody(t *testing.T, body, model string, stream bool) string {
	t.Helper()
	if strings.Count(body, `"model":"MODEL"`) != 1 || strings.Count(body, `"stream":false`) != 1 {
		t.Fatalf("case body lacks the model or stream placeholder: %s", body)
	}
	body = strings.Replace(body, `"model":"MODEL"`, `"model":"`+model+`"`, 1)
	if stream {
		body = strings.Replace(body, `"stream":false`, `"stream":true`, 1)
	}
	return body
}

// startOnFake serves a gateway whose upstream is fake, reached through the
// real copilot.Transport with a token fake issued, and primes the model
// list that routing reads.
func startOnFake(t *testing.T, fake *copilottest.Server) *httptest.Server {
	t.Helper()
	auth := copilot.NewAuth(fake.Client(), fake.URL(), copilottest.GitHubToken, copilot.Editor{})
	tok, err := auth.Exchange(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, &copilot.Transport{
		Source:   fixedToken{tok},
		Base:     fake.Client().Transport,
		Endpoint: copilot.Endpoint{BaseURL: fake.URL()},
	})
	if resp, body := do(t, ts, http.MethodGet, "/v1/models", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/models: %d %s", resp.StatusCode, body)
	}
	return ts
}

// fixedToken is a copilot.TokenSource with one token.
type fixedToken struct{ tok *copilot.Token }

func (f fixedToken) Token(context.Context) (*copilot.Token, error) { return f.tok, nil }
func (fixedToken) Invalidate(string)                               {}

// sendWithHeaders posts a JSON body with extra headers (name, value pairs).
func sendWithHeaders(t *testing.T, ts *httptest.Server, path, body string, header []string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// inferenceCalls are the fake's chat, responses and messages requests.
func inferenceCalls(fake *copilottest.Server) []copilottest.Request {
	var out []copilottest.Request
	for _, r := range fake.Requests() {
		switch r.Path {
		case copilottest.PathChat, copilottest.PathResponses, copilottest.PathMessages:
			out = append(out, r)
		}
	}
	return out
}

func callPaths(rs []copilottest.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Path)
	}
	return out
}

// TestResponsesPassthroughReadsOnlyWhatItActsOn: a /v1/responses body whose
// other fields the gateway does not act on goes to Copilot's /responses as
// sent (Copilot judges them), while the same body for a model reached by
// translation must decode whole, so a malformed field is the client's 400
// there and nothing goes upstream.
func TestResponsesPassthroughReadsOnlyWhatItActsOn(t *testing.T) {
	t.Parallel()
	const body = `{"model":"MODEL","input":[{"role":"user","content":"hi"}],"tools":5,"x_future":{"a":[1]}}`
	fake := copilottest.New(t)
	ts := startOnFake(t, fake)
	native := strings.Replace(body, "MODEL", "gpt-5-codex", 1)
	resp, got := post(t, ts, "/v1/responses", native)
	calls := inferenceCalls(fake)
	if len(calls) != 1 || calls[0].Path != copilottest.PathResponses || string(calls[0].Body) != native {
		t.Fatalf("native: status %d (%s); upstream calls %v, want the body as sent at /responses", resp.StatusCode, got, callPaths(calls))
	}

	fake2 := copilottest.New(t)
	ts2 := startOnFake(t, fake2)
	resp, got = post(t, ts2, "/v1/responses", strings.Replace(body, "MODEL", "gpt-4o", 1))
	wantEnvelope(t, resp, got, http.StatusBadRequest, "invalid_request_error")
	if calls := inferenceCalls(fake2); len(calls) != 0 {
		t.Errorf("translated: %d upstream calls for a body that cannot be translated", len(calls))
	}
}
