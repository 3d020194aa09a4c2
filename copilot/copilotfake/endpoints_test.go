package copilotfake

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// minimal request bodies per route, for a model.
func bodyFor(p, model string, stream bool) string {
	st := ""
	if stream {
		st = `"stream":true,`
	}
	switch p {
	case PathResponses:
		return `{"model":"` + model + `",` + st + `"input":"hi"}`
	case PathMessages:
		return `{"model":"` + model + `",` + st + `"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	}
	return `{"model":"` + model + `",` + st + `"messages":[{"role":"user","content":"hi"}]}`
}

func TestEndpointEnforcement(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	ok := map[string][]string{
		"gpt-4o":            {PathChat},
		"gpt-5":             {PathChat, PathResponses},
		"gpt-5-codex":       {PathResponses},
		"claude-sonnet-4":   {PathChat, PathMessages},
		"claude-sonnet-4.5": {PathChat, PathMessages},
		"claude-opus-4.6":   {PathChat, PathMessages},
		"claude-haiku-4.5":  {PathChat, PathMessages},
		"not-listed":        {PathChat, PathResponses, PathMessages},
	}
	for model, allowed := range ok {
		for _, p := range []string{PathChat, PathResponses, PathMessages} {
			r := post(t, s, p, auth, bodyFor(p, model, false))
			want := http.StatusBadRequest
			if slices.Contains(allowed, p) {
				want = http.StatusOK
			}
			if r.status != want {
				t.Errorf("%s on %s: %d %s, want %d", model, p, r.status, r.body, want)
			}
			wantBody := `{"error":{"message":"model ` + model + ` is not accessible via the ` + p +
				` endpoint","code":"unsupported_api_for_model","type":"invalid_request_error"}}`
			if want == 400 && r.body != wantBody {
				t.Errorf("%s on %s: body %s, want %s", model, p, r.body, wantBody)
			}
		}
	}
}

func TestStrictModelsAndCustomList(t *testing.T) {
	t.Parallel()
	list := `{"object":"list","data":[{"id":"only-chat"},{"id":"resp","supported_endpoints":["/responses"]}]}`
	s := newFake(t, WithModelsJSON(list))
	auth := bearer(t, s)
	check := func(p, model string, want int, code string) {
		t.Helper()
		r := post(t, s, p, auth, bodyFor(p, model, false))
		if r.status != want || !strings.Contains(r.body, code) {
			t.Errorf("%s %s: %d %s, want %d %s", p, model, r.status, r.body, want, code)
		}
	}
	check(PathChat, "only-chat", 200, "")
	check(PathMessages, "only-chat", 400, "unsupported_api_for_model") // no supported_endpoints: chat-only
	check(PathChat, "resp", 400, "unsupported_api_for_model")
	check(PathResponses, "gpt-4o", 200, "") // not in this list
	s.SetStrictModels(true)
	for _, p := range []string{PathChat, PathResponses, PathMessages} {
		check(p, "claude-sonnet-4-5-20250929", 400, `"code":"model_not_supported"`)
	}
	check(PathResponses, "resp", 200, "")
	s.SetModelsJSON("not json") // turns the checks off
	check(PathChat, "resp", 200, "")
	s.SetModelsJSON("") // back to the constructor's list
	if r := do(t, s, http.MethodGet, PathModels, auth, ""); r.body != list {
		t.Errorf("SetModelsJSON(\"\") restored %s", r.body)
	}
	s.Reset()
	check(PathChat, "unknown", 200, "") // strict mode reset
	check(PathChat, "resp", 400, "unsupported_api_for_model")
}

func TestModelsEndpointsAndBilling(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	var list struct {
		Data []struct {
			ID                 string   `json:"id"`
			SupportedEndpoints []string `json:"supported_endpoints"`
			Billing            struct {
				IsPremium  *bool          `json:"is_premium"`
				Multiplier *float64       `json:"multiplier"`
				Pricing    map[string]any `json:"pricing"`
			} `json:"billing"`
			Capabilities struct{ Type, Family string } `json:"capabilities"`
		} `json:"data"`
	}
	r := do(t, s, http.MethodGet, PathModels, bearer(t, s), "")
	if err := jsonUnmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"gpt-4o": "/chat/completions", "claude-sonnet-4": "/chat/completions,/v1/messages", "text-embedding-3-small": "/embeddings",
		"gpt-5": "/chat/completions,/responses", "gpt-5-codex": "/responses", "claude-sonnet-4.5": "/chat/completions,/v1/messages",
		"claude-opus-4.6": "/chat/completions,/v1/messages", "claude-haiku-4.5": "/chat/completions,/v1/messages",
	}
	if len(list.Data) != len(want) {
		t.Errorf("%d models, want %d", len(list.Data), len(want))
	}
	for _, m := range list.Data {
		if got := strings.Join(m.SupportedEndpoints, ","); got != want[m.ID] {
			t.Errorf("%s: supported_endpoints %s, want %s", m.ID, got, want[m.ID])
		}
		if m.Billing.IsPremium == nil || m.Billing.Multiplier == nil {
			t.Errorf("%s: billing %+v", m.ID, m.Billing)
		}
		if p := m.Billing.Pricing; p != nil && (p["input"] == nil || p["output"] == nil || p["cached_input"] == nil) {
			t.Errorf("%s: pricing %v", m.ID, p)
		}
	}
	if m := list.Data[4]; m.ID != "gpt-5-codex" || m.Capabilities.Type != "chat" || m.Capabilities.Family != "gpt-5-codex" || m.Billing.Pricing == nil {
		t.Errorf("gpt-5-codex entry %+v", m)
	}
}

func TestChatToolCalls(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}},{"type":"function","function":{"name":"f","parameters":{}}}]`
	r := post(t, s, PathChat, auth, `{"model":"gpt-4o",`+tools+`,"messages":[{"role":"user","content":[{"type":"text","text":"call_tool: f"}]}]}`)
	m := decode(t, r.body)
	call := path(m, "choices", 0, "message", "tool_calls", 0)
	if id, _ := path(call, "id").(string); !strings.HasPrefix(id, "call_") || path(call, "type") != "function" ||
		path(call, "function", "name") != "f" || path(call, "function", "arguments") != ToolCallArguments ||
		path(m, "choices", 0, "finish_reason") != "tool_calls" || path(m, "choices", 0, "message", "content") != nil {
		t.Errorf("tool call completion %s", r.body)
	}
	// A system message after the user's (Claude Code's, translated) does
	// not hide the trigger.
	r = post(t, s, PathChat, auth, `{"model":"gpt-4o",`+tools+`,"messages":[{"role":"user","content":"call_tool f"},{"role":"system","content":"# Environment"}]}`)
	if m := decode(t, r.body); path(m, "choices", 0, "message", "tool_calls", 0, "function", "name") != "f" {
		t.Errorf("tool call before a system message: %s", r.body)
	}

	s.SetStream(4, 0)
	r = post(t, s, PathChat, auth, `{"model":"gpt-4o","stream":true,`+tools+`,"messages":[{"role":"user","content":"call_tool"}]}`)
	events := readEvents(t, r.body)
	if len(events) != 1+1+4+1+1 || events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("tool call stream %q", events)
	}
	first := decode(t, strings.TrimPrefix(events[1], "data: "))
	if path(first, "choices", 0, "delta", "tool_calls", 0, "function", "name") != "get_weather" ||
		path(first, "choices", 0, "delta", "tool_calls", 0, "id") == nil {
		t.Errorf("first tool call chunk %v", first)
	}
	var args strings.Builder
	for _, e := range events[2:6] {
		args.WriteString(path(decode(t, strings.TrimPrefix(e, "data: ")), "choices", 0, "delta", "tool_calls", 0, "function", "arguments").(string))
	}
	finish := decode(t, strings.TrimPrefix(events[6], "data: "))
	if args.String() != ToolCallArguments || path(finish, "choices", 0, "finish_reason") != "tool_calls" {
		t.Errorf("arguments %q, finish %v", args.String(), finish)
	}

	r = post(t, s, PathChat, auth, `{"model":"gpt-4o",`+tools+`,"messages":[{"role":"user","content":"call_tool"},{"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","tool_call_id":"c","content":"18C"}]}`)
	if got := path(decode(t, r.body), "choices", 0, "message", "content"); got != ToolResultReply("18C") {
		t.Errorf("tool result reply %v", got)
	}
}

func TestCachedTokens(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetCachedTokens(4)
	chat := decode(t, post(t, s, PathChat, auth, bodyFor(PathChat, "gpt-4o", false)).body)
	if u := path(chat, "usage"); path(u, "prompt_tokens") != 15.0 || path(u, "prompt_tokens_details", "cached_tokens") != 4.0 || path(u, "total_tokens") != 22.0 {
		t.Errorf("chat usage %v", u)
	}
	resp := decode(t, post(t, s, PathResponses, auth, bodyFor(PathResponses, "gpt-5", false)).body)
	if u := path(resp, "usage"); path(u, "input_tokens") != 15.0 || path(u, "input_tokens_details", "cached_tokens") != 4.0 {
		t.Errorf("responses usage %v", u)
	}
	msg := decode(t, post(t, s, PathMessages, auth, bodyFor(PathMessages, "claude-sonnet-4.5", false)).body)
	if u := path(msg, "usage"); path(u, "input_tokens") != 11.0 || path(u, "cache_read_input_tokens") != 4.0 {
		t.Errorf("messages usage %v", u)
	}
	r := post(t, s, PathChat, auth, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`)
	if !strings.Contains(r.body, `"prompt_tokens_details":{"cached_tokens":4}`) {
		t.Errorf("stream usage lacks cached tokens: %s", r.body)
	}
}

// streamPaths are the inference routes with a model each serves.
var streamPaths = []struct{ path, model string }{
	{PathChat, "gpt-4o"}, {PathResponses, "gpt-5-codex"}, {PathMessages, "claude-sonnet-4.5"},
}

func TestStreamFaultsOnEveryEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range streamPaths {
		t.Run(ep.path, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			auth := bearer(t, s)
			body := bodyFor(ep.path, ep.model, true)
			s.SetFault(ep.path, Fault{DropAfter: 2, Count: 1})
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+ep.path, strings.NewReader(body))
			req.Header.Set("Authorization", auth)
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !errors.Is(err, io.ErrUnexpectedEOF) || strings.Count(string(b), "\n\n") != 2 {
				t.Errorf("drop: err %v after %q", err, b)
			}

			const stall = 100 * time.Millisecond
			s.SetFault(ep.path, Fault{StallAfter: 2, StallFor: stall, Count: 1})
			start := time.Now()
			full := post(t, s, ep.path, auth, body)
			if time.Since(start) < stall || full.status != 200 {
				t.Errorf("stall: took %v, status %d", time.Since(start), full.status)
			}
			if again := post(t, s, ep.path, auth, body); strings.Count(again.body, "\n\n") != strings.Count(full.body, "\n\n") {
				t.Errorf("stalled stream has %d events, a plain one %d", strings.Count(full.body, "\n\n"), strings.Count(again.body, "\n\n"))
			}
			checkFailAfter(t, s, ep.path, auth, body)
		})
	}
}

// checkFailAfter checks Fault.FailAfter: three events, then the API's
// error event, then a clean end.
func checkFailAfter(t *testing.T, s *Server, p, auth, body string) {
	t.Helper()
	s.SetFault(p, Fault{FailAfter: 3, Count: 1})
	r := post(t, s, p, auth, body)
	events := readEvents(t, r.body)
	if len(events) != 4 {
		t.Fatalf("fail after 3: %d events %q", len(events), events)
	}
	last := events[3]
	want := map[string]string{
		PathChat:      `data: {"error":{"message":`,
		PathResponses: "event: response.failed\n",
		PathMessages:  "event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"},\"type\":\"error\"}",
	}[p]
	if !strings.HasPrefix(last, want) {
		t.Errorf("last event %q, want prefix %q", last, want)
	}
	if p == PathResponses {
		ev := parseSSE(t, last+"\n\n")[0]
		if path(ev.data, "sequence_number") != 3.0 || path(ev.data, "response", "status") != "failed" ||
			path(ev.data, "response", "error", "code") != "server_error" {
			t.Errorf("response.failed %v", ev.data)
		}
	}
}

func TestStatusLatencyAndAuthOnNewEndpoints(t *testing.T) {
	t.Parallel()
	for _, ep := range streamPaths[1:] {
		t.Run(ep.path, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			auth := bearer(t, s)
			body := bodyFor(ep.path, ep.model, false)
			s.SetFault(ep.path, Fault{Status: 429, RetryAfter: "7", Count: 1})
			if r := post(t, s, ep.path, auth, body); r.status != 429 || r.header.Get("Retry-After") != "7" || !strings.Contains(r.body, "rate_limited") {
				t.Errorf("429 fault: %d %v %s", r.status, r.header, r.body)
			}
			s.SetLatency(80 * time.Millisecond)
			start := time.Now()
			if r := post(t, s, ep.path, auth, body); r.status != 200 || time.Since(start) < 80*time.Millisecond {
				t.Errorf("latency: %d after %v", r.status, time.Since(start))
			}
			s.SetLatency(0)
			s.RevokeTokens()
			if r := post(t, s, ep.path, auth, body); r.status != 401 || r.body != unauthorizedBody {
				t.Errorf("revoked token: %d %s", r.status, r.body)
			}
			checkHangCancel(t, s, ep.path, bearer(t, s), body)
		})
	}
}

// checkHangCancel checks that a hanging request cancelled by the client is
// reported on Canceled with its path.
func checkHangCancel(t *testing.T, s *Server, p, auth, body string) {
	t.Helper()
	s.SetFault(p, Fault{Hang: true, Count: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+p, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	errc := make(chan error, 1)
	go func() {
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, "request in flight", func() bool { return s.InFlight() == 1 })
	cancel()
	select {
	case ci := <-s.Canceled():
		if ci.Path != p {
			t.Errorf("cancel path %q, want %q", ci.Path, p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cancellation reported")
	}
	<-errc
}

func TestEndpointOverrides(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetEndpointResponse(PathResponses, `{"custom":1}`)
	s.SetEndpointStream(PathMessages, []string{"event: message_stop\ndata: {\"type\":\"message_stop\"}", ": keep-alive", "data: x"})
	if r := post(t, s, PathResponses, auth, bodyFor(PathResponses, "gpt-5", false)); r.body != `{"custom":1}` {
		t.Errorf("responses override: %s", r.body)
	}
	want := "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n: keep-alive\n\ndata: x\n\n"
	if r := post(t, s, PathMessages, auth, bodyFor(PathMessages, "claude-sonnet-4.5", true)); r.body != want {
		t.Errorf("messages stream override: %q", r.body)
	}
	s.SetEndpointResponse(PathResponses, "")
	s.SetEndpointStream(PathMessages, nil)
	if r := post(t, s, PathResponses, auth, bodyFor(PathResponses, "gpt-5", false)); !strings.Contains(r.body, DefaultChatContent) {
		t.Errorf("responses override not cleared: %s", r.body)
	}
	if r := post(t, s, PathMessages, auth, bodyFor(PathMessages, "claude-sonnet-4.5", true)); !strings.Contains(r.body, "event: message_start") {
		t.Errorf("messages stream override not cleared: %s", r.body)
	}
}

func TestResetNewSettings(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	auth := bearer(t, s)
	s.SetResponsesFault(Fault{Status: 500})
	s.SetMessagesFault(Fault{Status: 503})
	s.SetEndpointResponse(PathMessages, "x")
	s.SetEndpointStream(PathResponses, []string{"x"})
	s.SetStrictModels(true)
	s.SetVerifyReasoning(true)
	s.SetCachedTokens(9)
	s.Reset()
	for _, ep := range streamPaths {
		r := post(t, s, ep.path, auth, bodyFor(ep.path, ep.model, false))
		if r.status != 200 || strings.Contains(r.body, "cached_tokens\":9") || strings.Contains(r.body, "cache_read_input_tokens\":9") {
			t.Errorf("%s after Reset: %d %s", ep.path, r.status, r.body)
		}
	}
	if r := post(t, s, PathChat, auth, bodyFor(PathChat, "unknown-model", false)); r.status != 200 {
		t.Errorf("strict models survived Reset: %d", r.status)
	}
	r := post(t, s, PathResponses, auth, `{"model":"gpt-5","input":[{"type":"reasoning","id":"r","encrypted_content":"forged"}]}`)
	if r.status != 200 {
		t.Errorf("reasoning verification survived Reset: %d", r.status)
	}
	s.SetResponsesFault(Fault{Status: 500})
	s.ClearResponsesFault()
	if r := post(t, s, PathResponses, auth, bodyFor(PathResponses, "gpt-5", false)); r.status != 200 {
		t.Errorf("after ClearResponsesFault: %d", r.status)
	}
}
