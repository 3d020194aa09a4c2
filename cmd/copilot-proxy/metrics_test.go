package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// scrape fetches url+/metrics and returns its series: "name{labels}" (as
// client_golang prints them, labels sorted) → value.
func scrape(t *testing.T, c *http.Client, url string) (map[string]float64, string) {
	t.Helper()
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out, string(b)
}

// labels renders a label set the way the exposition format does (sorted by
// name, as the caller must pass them).
func series(name string, kv ...string) string {
	if len(kv) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name + "{")
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i] + "=" + strconv.Quote(kv[i+1]))
	}
	return b.String() + "}"
}

func getStatus(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsScriptedMix runs a stream, non-streams, a 401, a 429, an
// upstream 5xx and a client disconnect, then checks the exact counters and
// that the histograms observed the requests.
func TestMetricsScriptedMix(t *testing.T) {
	fake := copilottest.New(t)
	fake.SetStream(3, 0)
	g, db := startTeamGateway(t, fake, map[string]string{"COPILOT_PROXY_METRICS": "true"})
	a := createKey(t, db, "--name", "alice")
	b := createKey(t, db, "--name", "bob", "--rpm", "1")
	eventually(t, "the new keys are served", func() bool {
		return g.chat(t, "Authorization", "Bearer "+a.Key, "gpt-4o").StatusCode == 200
	})
	// Make sure the model list is cached (the gateway prefetches it).
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+a.Key)
	if resp, err := g.client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("models: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A full stream: 6 events reach the client (the usage chunk the gateway
	// asked for is kept back).
	streamBody := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	streamReq := func(ctx context.Context) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(streamBody))
		req.Header.Set("Authorization", "Bearer "+a.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := streamReq(context.Background())
	all, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(all), "data:"); n != 6 {
		t.Fatalf("stream had %d events: %s", n, all)
	}

	// A client that leaves after two events while the upstream stalls.
	fake.SetChatFault(copilottest.Fault{StallAfter: 2, StallFor: time.Minute, Count: 1})
	ctx, cancel := context.WithCancel(context.Background())
	resp = streamReq(ctx)
	br := bufio.NewReader(resp.Body)
	for got := 0; got < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data:") {
			got++
		}
	}
	cancel()
	resp.Body.Close()
	select {
	case <-fake.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream call was not cancelled")
	}
	fake.ClearChatFault()

	// A bad key: 401. Bob's second request within the minute: 429.
	if s := g.chat(t, "Authorization", "Bearer cpk_not-a-real-key", "gpt-4o").StatusCode; s != 401 {
		t.Fatalf("bad key: %d", s)
	}
	if s := g.chat(t, "Authorization", "Bearer "+b.Key, "gpt-4o").StatusCode; s != 200 {
		t.Fatalf("bob: %d", s)
	}
	if s := g.chat(t, "Authorization", "Bearer "+b.Key, "gpt-4o").StatusCode; s != 429 {
		t.Fatalf("bob over rpm: %d", s)
	}
	// An upstream 5xx.
	fake.SetChatFault(copilottest.Fault{Status: 500, Count: 1})
	if s := g.chat(t, "Authorization", "Bearer "+a.Key, "gpt-4o").StatusCode; s != 502 {
		t.Fatalf("upstream 500: %d", s)
	}

	const route = "/v1/chat/completions"
	want := map[string]float64{
		// alice: the warm-up chat, the non-stream... (the warm-up loop may
		// have been refused 401 while the key cache caught up; those are
		// checked below with >=).
		series("copilot_proxy_http_requests_total", "key_id", a.ID, "model", "gpt-4o", "route", route, "status", "502"): 1,
		series("copilot_proxy_http_requests_total", "key_id", b.ID, "model", "gpt-4o", "route", route, "status", "200"): 1,
		series("copilot_proxy_http_requests_total", "key_id", b.ID, "model", "none", "route", route, "status", "429"):   1,
		series("copilot_proxy_limit_rejections_total", "reason", "rpm"):                                                 1,
		series("copilot_proxy_upstream_responses_total", "route", route, "status", "500"):                               1,
		series("copilot_proxy_upstream_responses_total", "route", route, "status", "200"):                               4,
		series("copilot_proxy_streams_ended_total", "reason", "complete"):                                               1,
		series("copilot_proxy_streams_ended_total", "reason", "client_disconnect"):                                      1,
		series("copilot_proxy_streams_ended_total", "reason", "upstream_error"):                                         0,
		series("copilot_proxy_streams_active"):                                                                          0,
		series("copilot_proxy_stream_events_total"):                                                                     8,
		series("copilot_proxy_stream_time_to_first_byte_seconds_count"):                                                 2,
		series("copilot_proxy_stream_duration_seconds_count"):                                                           2,
		// Non-stream usage is 11+7, the stream's 11+3; the abandoned stream
		// never reached its usage chunk, so it counts what it used so far,
		// estimated: its 76-byte body as 19 prompt tokens, and its 2
		// relayed events as 2 completion tokens.
		series("copilot_proxy_tokens_total", "key_id", a.ID, "model", "gpt-4o", "type", "prompt"):     22 + 19,
		series("copilot_proxy_tokens_total", "key_id", a.ID, "model", "gpt-4o", "type", "completion"): 10 + 2,
		series("copilot_proxy_tokens_total", "key_id", b.ID, "model", "gpt-4o", "type", "prompt"):     11,
		series("copilot_proxy_tokens_total", "key_id", b.ID, "model", "gpt-4o", "type", "completion"): 7,
		series("copilot_proxy_copilot_token_valid"):                                                   1,
	}
	var got map[string]float64
	var text string
	// Requests are recorded once their handler returns, a moment after the
	// client has the answer.
	eventually(t, "the counters reach the expected values", func() bool {
		got, text = scrape(t, g.client, g.URL)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// alice's 200s: the warm-up, the stream and the abandoned stream.
	ok200 := got[series("copilot_proxy_http_requests_total", "key_id", a.ID, "model", "gpt-4o", "route", route, "status", "200")]
	if ok200 != 3 {
		t.Errorf("alice's 200s = %v, want 3", ok200)
	}
	// 401s: the bad key, plus any warm-up attempt before the key was served.
	unauth := got[series("copilot_proxy_http_requests_total", "key_id", "none", "model", "none", "route", route, "status", "401")]
	if unauth < 1 || got[series("copilot_proxy_limit_rejections_total", "reason", "auth")] != unauth {
		t.Errorf("401s = %v, auth rejections = %v", unauth, got[series("copilot_proxy_limit_rejections_total", "reason", "auth")])
	}
	total := ok200 + unauth + 3 // + bob's two and alice's 502
	if c := got[series("copilot_proxy_http_request_duration_seconds_count", "route", route)]; c != total {
		t.Errorf("request duration count = %v, want %v", c, total)
	}
	if c := got[series("copilot_proxy_gateway_overhead_seconds_count", "route", route)]; c != 5 {
		t.Errorf("overhead count = %v, want 5 (the requests that reached the upstream)", c)
	}
	if c := got[series("copilot_proxy_upstream_duration_seconds_count", "route", route)]; c != 5 {
		t.Errorf("upstream duration count = %v, want 5", c)
	}
	if got[series("copilot_proxy_copilot_token_refreshes_total", "result", "success")] < 1 ||
		got[series("copilot_proxy_copilot_token_exchange_duration_seconds_count")] < 1 {
		t.Error("the token exchange was not recorded")
	}
	if exp := got[series("copilot_proxy_copilot_token_expiry_seconds")]; exp <= 0 || exp > 3600 {
		t.Errorf("token expiry seconds = %v", exp)
	}
	if got["go_goroutines"] <= 0 || got["process_start_time_seconds"] <= 0 {
		t.Error("runtime and process collectors missing")
	}
	// No key, no token, nothing secret in the scrape.
	secrets := append([]string{a.Key, b.Key, "cpk_", copilottest.GitHubToken}, fake.IssuedTokens()...)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the scrape contains a secret (%.8s…)", s)
		}
	}
}

// TestMetricsAbsentUnlessEnabled: no /metrics by default; with
// --metrics-addr only on that address.
func TestMetricsAbsentUnlessEnabled(t *testing.T) {
	fake := copilottest.New(t)
	t.Run("off", func(t *testing.T) {
		g := startGateway(t, fake, nil)
		if s := getStatus(t, g.client, g.URL+"/metrics"); s != 404 {
			t.Errorf("GET /metrics without --metrics = %d", s)
		}
	})
	t.Run("separate address", func(t *testing.T) {
		g := startGateway(t, fake, nil, "--metrics-addr", "127.0.0.1:0")
		var addr string
		for _, line := range strings.Split(g.Logs.String(), "\n") {
			var l struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Message == "metrics listening" {
				addr = l.Addr
			}
		}
		if addr == "" {
			t.Fatalf("no metrics listening line:\n%s", g.Logs.String())
		}
		if s := getStatus(t, g.client, g.URL+"/metrics"); s != 404 {
			t.Errorf("GET /metrics on the main port with --metrics-addr = %d", s)
		}
		// The model label is read from the cached model list and never
		// fetches it: make sure it is cached (the start-up fetch may still
		// be under way on a busy machine).
		if s := getStatus(t, g.client, g.URL+"/v1/models"); s != 200 {
			t.Fatalf("GET /v1/models = %d", s)
		}
		if s := g.chat(t, "", "", "gpt-4o").StatusCode; s != 200 {
			t.Fatalf("chat: %d", s)
		}
		eventually(t, "the chat is counted on the metrics address", func() bool {
			got, _ := scrape(t, g.client, "http://"+addr)
			return got[series("copilot_proxy_http_requests_total", "key_id", "none", "model", "gpt-4o", "route", "/v1/chat/completions", "status", "200")] == 1
		})
		g.stop(t)
		if _, err := g.client.Get("http://" + addr + "/metrics"); err == nil {
			t.Error("the metrics listener still answers after shutdown")
		}
	})
}

// TestReadyzTokenExchangeFails: /readyz is 503 naming the token while the
// exchange fails, and the failures are counted.
func TestReadyzTokenExchangeFails(t *testing.T) {
	fake := copilottest.New(t)
	fake.FailExchange(http.StatusUnauthorized, `{"message":"Bad credentials"}`, 0)
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_METRICS": "true"})
	var body struct {
		Status     string `json:"status"`
		Reason     string `json:"reason"`
		Conditions []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Reason string `json:"reason"`
		} `json:"conditions"`
	}
	eventually(t, "readyz reports the failed exchange", func() bool {
		resp, err := g.client.Get(g.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body.Conditions = nil
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode == 503 && strings.Contains(body.Reason, "401")
	})
	if body.Status != "unavailable" || !strings.HasPrefix(body.Reason, "no valid Copilot token") {
		t.Errorf("readyz body %+v", body)
	}
	conds := map[string]bool{}
	for _, c := range body.Conditions {
		conds[c.Name] = c.OK
	}
	if ok, found := conds["copilot_token"]; !found || ok || !conds["key_store"] || !conds["shutting_down"] {
		t.Errorf("conditions %+v", body.Conditions)
	}
	got, text := scrape(t, g.client, g.URL)
	if got[series("copilot_proxy_copilot_token_refreshes_total", "result", "failure")] < 1 ||
		got[series("copilot_proxy_copilot_token_valid")] != 0 || got[series("copilot_proxy_copilot_token_expiry_seconds")] != 0 {
		t.Errorf("token metrics after a failed exchange:\n%s", text)
	}
	if strings.Contains(text, copilottest.GitHubToken) {
		t.Error("the GitHub token appears in the scrape")
	}

	// A 401 is a hard failure: the manager does not hammer GitHub, so
	// readiness stays down until the next scheduled attempt (minutes).
}

// TestRequestIDEndToEnd: a well-formed client id is kept, a malformed one
// replaced; either way it reaches the upstream, the response (errors
// included) and every log line of the request.
func TestRequestIDEndToEnd(t *testing.T) {
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil, "--log-level", "debug")
	send := func(id string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", id)
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	lastUpstreamID := func() string {
		reqs := fake.RequestsTo("/chat/completions")
		if len(reqs) == 0 {
			t.Fatal("no upstream chat request")
		}
		return reqs[len(reqs)-1].Header.Get("X-Request-Id")
	}
	logLinesWith := func(id string) []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(g.Logs.String(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["request_id"] == id {
				out = append(out, l)
			}
		}
		return out
	}
	accessLogged := func(id string, status int) bool {
		for _, l := range logLinesWith(id) {
			if l["route"] == "/v1/chat/completions" && l["status"] == float64(status) {
				return true
			}
		}
		return false
	}

	const good = "client-id_1.2:3"
	resp, _ := send(good)
	if resp.Header.Get("X-Request-Id") != good || lastUpstreamID() != good {
		t.Errorf("well-formed id: response %q, upstream %q", resp.Header.Get("X-Request-Id"), lastUpstreamID())
	}
	eventually(t, "the access log line carries the client's id", func() bool { return accessLogged(good, 200) })
	// The upstream client's debug line is a line of the request too.
	if n := len(logLinesWith(good)); n < 2 {
		t.Errorf("%d log lines carry the id, want the access line and the upstream line", n)
	}

	for _, bad := range []string{"has space", strings.Repeat("a", 129), "semi;colon", "ünïcode"} {
		resp, _ := send(bad)
		id := resp.Header.Get("X-Request-Id")
		if id == "" || id == bad || len(id) != 36 || lastUpstreamID() != id {
			t.Errorf("malformed %q: response id %q, upstream %q", bad, id, lastUpstreamID())
		}
		if strings.Contains(g.Logs.String(), bad) {
			t.Errorf("malformed id %q reached the log", bad)
		}
	}

	// Errors carry the id too: an upstream 5xx (the gateway logs a warning
	// with it) and a bad request that never reaches the upstream.
	fake.SetChatFault(copilottest.Fault{Status: 500, Count: 1})
	resp, body := send("err-id-1")
	if resp.StatusCode != 502 || resp.Header.Get("X-Request-Id") != "err-id-1" || !strings.Contains(body, `"error"`) {
		t.Errorf("upstream error: %d %q %s", resp.StatusCode, resp.Header.Get("X-Request-Id"), body)
	}
	eventually(t, "the error's log lines carry the id", func() bool {
		warned := false
		for _, l := range logLinesWith("err-id-1") {
			if l["message"] == "request failed" {
				warned = true
			}
		}
		return warned && accessLogged("err-id-1", 502)
	})
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader("{not json"))
	req.Header.Set("X-Request-Id", "err-id-2")
	req.Header.Set("Content-Type", "application/json")
	r2, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 400 || r2.Header.Get("X-Request-Id") != "err-id-2" {
		t.Errorf("bad request: %d %q", r2.StatusCode, r2.Header.Get("X-Request-Id"))
	}
	eventually(t, "the bad request's access line carries the id", func() bool { return accessLogged("err-id-2", 400) })
}
