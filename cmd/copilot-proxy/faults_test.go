package main

// The fault matrix of the README's "Reliability" section: one test per row,
// each driving the real server (run serve, in-process, on loopback) against
// the fake upstream and asserting what the client sees, the log line, and
// that nothing leaked: goroutines (goleak in TestMain), upstream requests
// left open (fake.InFlight) and usage rows where the row is about usage.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

const chatBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
const streamBody = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// errEnvelope is the OpenAI error envelope.
type errEnvelope struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

// do sends a request with an optional body and returns the response with its
// body read.
func (g *testGateway) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, b
}

// wantError checks a response is the OpenAI envelope with status and code
// and returns its message.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) string {
	t.Helper()
	var env errEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("status %d: body is not JSON: %q", resp.StatusCode, body)
	}
	if resp.StatusCode != status || (code != "" && env.Error.Code != code) {
		t.Fatalf("got %d %q (%s), want %d %s", resp.StatusCode, env.Error.Code, env.Error.Message, status, code)
	}
	if env.Error.Message == "" || env.Error.Type == "" {
		t.Fatalf("envelope lacks message or type: %s", body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q", ct)
	}
	return env.Error.Message
}

// gotCode is the code of an error envelope.
func gotCode(b []byte) string {
	var env errEnvelope
	_ = json.Unmarshal(b, &env)
	return env.Error.Code
}

// logLine is one JSON log line.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// lines parses the captured logs.
func (g *testGateway) lines() []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(g.Logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// findLog returns the first log line matching level (or "") and containing
// every want string in its JSON.
func (g *testGateway) findLog(level string, want ...string) (logLine, bool) {
	for _, l := range g.lines() {
		if level != "" && l.str("level") != level {
			continue
		}
		b, _ := json.Marshal(l)
		ok := true
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				ok = false
				break
			}
		}
		if ok {
			return l, true
		}
	}
	return nil, false
}

func (g *testGateway) wantLog(t *testing.T, level string, want ...string) logLine {
	t.Helper()
	var l logLine
	waitFor(t, 5*time.Second, fmt.Sprintf("a %s log line with %q", level, want), func() bool {
		var ok bool
		l, ok = g.findLog(level, want...)
		return ok
	})
	return l
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noUpstreamLeft waits until the fake serves no Copilot API request: every
// upstream request the gateway opened was finished or cancelled.
func noUpstreamLeft(t *testing.T, fake *copilottest.Server) {
	t.Helper()
	waitFor(t, 5*time.Second, "no upstream request is open", func() bool { return fake.InFlight() == 0 })
}

// readyz returns the readiness status and reason.
func (g *testGateway) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, b := g.do(t, http.MethodGet, "/readyz", "")
	var p struct{ Status, Reason string }
	_ = json.Unmarshal(b, &p)
	return resp.StatusCode, p.Reason
}

// sse reads a streaming response into its events (each without the blank
// line), until EOF or a read error.
func sse(resp *http.Response) (events []string, err error) {
	br := bufio.NewReader(resp.Body)
	var cur strings.Builder
	for {
		line, err := br.ReadString('\n')
		if line == "\n" || line == "\r\n" {
			if cur.Len() > 0 {
				events = append(events, strings.TrimRight(cur.String(), "\n"))
				cur.Reset()
			}
		} else {
			cur.WriteString(line)
		}
		if err != nil {
			if cur.Len() > 0 {
				events = append(events, cur.String())
			}
			if err == io.EOF {
				err = nil
			}
			return events, err
		}
	}
}

// postStream posts a stream request and returns the open response.
func (g *testGateway) postStream(t *testing.T, body string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// --- token exchange faults ---

// Row: the token exchange returns 5xx for a while.
func TestFaultExchange5xxForAWhile(t *testing.T) {
	t.Parallel()
	// 3 s tokens, refresh_in 2 s: the manager refreshes after 1 s and hands
	// a token out until 0.3 s before it expires.
	fake := copilottest.New(t, copilottest.WithTokenLifetime(3*time.Second, 2*time.Second))
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_GLOBAL_RPM": "0"})
	waitFor(t, 10*time.Second, "ready", func() bool { s, _ := g.readyz(t); return s == 200 })
	fake.FailExchange(http.StatusInternalServerError, "", 0)
	failFrom := fake.ExchangeCount()

	// Requests keep succeeding on the old token until it expires.
	if resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("request on the still-valid token: %d %s", resp.StatusCode, b)
	}
	var first503 []byte
	waitFor(t, 10*time.Second, "the old token expires and requests get 503", func() bool {
		resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
		if resp.StatusCode == 503 {
			first503 = b
			wantError(t, resp, b, 503, "copilot_unavailable")
			return true
		}
		if resp.StatusCode != 200 {
			t.Fatalf("before expiry: %d %s", resp.StatusCode, b)
		}
		return false
	})
	if !strings.Contains(string(first503), "500") {
		t.Errorf("503 does not give the reason (the exchange's 500): %s", first503)
	}
	status, reason := g.readyz(t)
	if status != 503 || !strings.Contains(reason, "500") {
		t.Errorf("readiness during the outage: %d %q", status, reason)
	}
	// Clients hammering the gateway do not make it hammer GitHub.
	before := fake.ExchangeCount()
	for range 20 {
		g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
	}
	if n := fake.ExchangeCount() - before; n > 1 {
		t.Errorf("20 client requests during the outage caused %d exchange attempts", n)
	}
	g.wantLog(t, "warn", "copilot token exchange failed", "retry_in")

	// Heal, then recover without a restart.
	// Stay down a while longer, so the back-off has steps to count.
	time.Sleep(5 * time.Second)
	fake.ClearExchangeFault()
	healed := time.Now()
	waitFor(t, 20*time.Second, "readiness recovers", func() bool { s, _ := g.readyz(t); return s == 200 })
	if resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("after recovery: %d %s", resp.StatusCode, b)
	}
	g.wantLog(t, "info", "copilot token exchange recovered", "failed_attempts")

	// Back-off: attempts from the first failure until the heal are bounded by
	// doubling delays (1, 2, 4, 8 s ±20 %): at most one per doubling step of
	// the outage, never one per client request or per tick.
	times := fake.ExchangeTimes()
	failing := 0
	var outage time.Duration
	for i, at := range times[failFrom:] {
		if at.After(healed) {
			break
		}
		failing++
		outage = at.Sub(times[failFrom])
		_ = i
	}
	// With delays of at least 0.8, 1.6, 3.2, 6.4 … s, n attempts span at
	// least 0.8·(2^(n−1)−1) s.
	maxAttempts := 1
	for span := 0.8; time.Duration(span*float64(time.Second)) <= outage+time.Second; span = span*2 + 0.8 {
		maxAttempts++
	}
	if failing < 3 || failing > maxAttempts {
		t.Errorf("%d failed exchange attempts over %v of outage; back-off allows %d", failing, outage, maxAttempts)
	}
	noUpstreamLeft(t, fake)
}

// Row: the token exchange returns 401 / 403.
func TestFaultExchangeHardFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		quote  string // GitHub's message, which must reach the log and the client
	}{
		{401, "Bad credentials"},
		{403, "Your account has been flagged"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t)
			fake.FailExchange(tc.status, "", 0)
			g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_GLOBAL_RPM": "0"})
			l := g.wantLog(t, "error", "copilot token exchange failed", tc.quote)
			if ra := l.str("retry_in"); !strings.HasSuffix(ra, "m0s") && !strings.Contains(ra, "m") {
				t.Errorf("retry after a hard failure %q, want minutes", ra)
			}
			for range 10 {
				resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
				msg := wantError(t, resp, b, 503, "copilot_unavailable")
				if !strings.Contains(msg, tc.quote) {
					t.Fatalf("503 does not name the cause: %q", msg)
				}
			}
			status, reason := g.readyz(t)
			if status != 503 || !strings.Contains(reason, tc.quote) {
				t.Errorf("readiness: %d %q", status, reason)
			}
			// One attempt; the next is minutes away whatever clients do.
			if n := fake.ExchangeCount(); n != 1 {
				t.Errorf("%d exchange attempts after a hard failure and 10 requests, want 1", n)
			}
			if fake.InFlight() != 0 || len(fake.RequestsTo("/chat/completions")) != 0 {
				t.Error("requests reached the Copilot API without a token")
			}
		})
	}
}

// Row: token lifetime of a few seconds under continuous load for 30 s.
func TestFaultShortTokensUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("30 s of load")
	}
	fake := copilottest.New(t, copilottest.WithTokenLifetime(4*time.Second, 3*time.Second))
	fake.SetStream(3, 10*time.Millisecond)
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_GLOBAL_RPM": "0", "COPILOT_PROXY_GLOBAL_CONCURRENCY": "0"})
	waitFor(t, 10*time.Second, "ready", func() bool { s, _ := g.readyz(t); return s == 200 })
	start := fake.ExchangeCount()
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				body := chatBody
				if (w+i)%2 == 0 {
					body = streamBody
				}
				req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := g.client.Do(req)
				var b []byte
				if err == nil {
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				good := err == nil && resp.StatusCode == 200
				if good && body == streamBody {
					good = strings.Contains(string(b), "data: [DONE]") && !strings.Contains(string(b), `"error"`)
				}
				if good {
					ok.Add(1)
				} else {
					failed.Add(1)
					mu.Lock()
					if err != nil {
						failures = append(failures, err.Error())
					} else {
						failures = append(failures, fmt.Sprintf("%d %.200s", resp.StatusCode, b))
					}
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	refreshes := fake.ExchangeCount() - start
	t.Logf("%d requests ok, %d failed, %d refreshes in 30 s", ok.Load(), failed.Load(), refreshes)
	if failed.Load() != 0 {
		t.Fatalf("%d of %d client requests failed across token refreshes: %v", failed.Load(), ok.Load()+failed.Load(), failures)
	}
	if refreshes < 5 {
		t.Fatalf("only %d refreshes in 30 s with 4 s tokens", refreshes)
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d requests in 30 s", ok.Load())
	}
	g.wantLog(t, "info", "copilot token refreshed")
	noUpstreamLeft(t, fake)
}

// --- Copilot API faults ---

// Row: upstream 401 on a chat call.
func TestFaultUpstream401(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	if resp, _ := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	// Revoked early: one re-exchange, the request succeeds.
	before := fake.ExchangeCount()
	fake.RevokeTokens()
	if resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("after revocation: %d %s", resp.StatusCode, b)
	}
	if n := fake.ExchangeCount() - before; n != 1 {
		t.Fatalf("%d exchanges after a revocation, want 1", n)
	}
	g.wantLog(t, "info", "copilot upstream answered 401; retrying once with a new token")

	// Two 401s in a row: the second one is the answer, as 502 with the
	// upstream message, and nothing loops.
	before = fake.ExchangeCount()
	calls := len(fake.RequestsTo("/chat/completions"))
	fake.SetChatFault(copilottest.Fault{Status: 401, Count: 2})
	resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
	msg := wantError(t, resp, b, 502, "upstream_error")
	if !strings.Contains(msg, "401") || !strings.Contains(msg, "unauthorized: token expired") || strings.Contains(msg, "{") {
		t.Fatalf("second 401: message %q", msg)
	}
	if n := fake.ExchangeCount() - before; n != 1 {
		t.Fatalf("%d exchanges for two 401s, want 1", n)
	}
	if n := len(fake.RequestsTo("/chat/completions")) - calls; n != 2 {
		t.Fatalf("%d upstream calls for one request, want 2 (the call and one retry)", n)
	}
	g.wantLog(t, "warn", `"route":"/v1/chat/completions"`, `"status":502`, `"upstream_status":401`, `"error_code":"upstream_error"`)
	// The next request is served normally on the token it got.
	before = fake.ExchangeCount()
	if resp, _ := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if fake.ExchangeCount() != before {
		t.Fatal("a later request exchanged again")
	}
	noUpstreamLeft(t, fake)
}

// Row: upstream 429 with Retry-After.
func TestFaultUpstream429(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	fake.SetChatFault(copilottest.Fault{Status: 429, RetryAfter: "17", Count: 1})
	resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
	msg := wantError(t, resp, b, 429, "")
	if resp.Header.Get("Retry-After") != "17" {
		t.Fatalf("Retry-After %q, want 17", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(msg, "rate-limited") {
		t.Fatalf("429 message %q is not Copilot's", msg)
	}
	g.wantLog(t, "", `"status":429`)
	noUpstreamLeft(t, fake)
}

// Row: upstream 5xx with an OpenAI-shaped body / with HTML.
func TestFaultUpstream5xx(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)

	fake.SetChatFault(copilottest.Fault{Status: 500, Count: 1,
		Body: `{"error":{"message":"The model is overloaded, try later.","type":"server_error","code":"overloaded"}}`})
	resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
	msg := wantError(t, resp, b, 502, "upstream_error")
	if !strings.Contains(msg, "The model is overloaded, try later.") || strings.Contains(msg, "{") || strings.Contains(string(b), `\"`) {
		t.Fatalf("JSON 5xx: message %q (body %s): want the upstream's message, not its JSON", msg, b)
	}

	fake.SetChatFault(copilottest.Fault{Status: 503, Count: 1, ContentType: "text/html; charset=utf-8",
		Body: "<!DOCTYPE html><html><head><title>503</title></head><body><h1>Service Unavailable</h1><script>x()</script></body></html>"})
	resp, b = g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
	msg = wantError(t, resp, b, 502, "upstream_error")
	if strings.ContainsAny(msg, "<>") || !strings.Contains(msg, "503") {
		t.Fatalf("HTML 5xx: message %q, want a clean generic message naming the status", msg)
	}
	g.wantLog(t, "warn", "request failed", `"status":502`)
	noUpstreamLeft(t, fake)
}

// Row: upstream accepts but never sends headers.
func TestFaultUpstreamHangs(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil, "--upstream-timeout", "1s")
	fake.SetChatFault(copilottest.Fault{Hang: true, Count: 1})
	resp, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
	msg := wantError(t, resp, b, 504, "upstream_timeout")
	if !strings.Contains(msg, "timeout") {
		t.Fatalf("504 message %q", msg)
	}
	g.wantLog(t, "warn", "request failed", "upstream_timeout")
	// The hung upstream request was abandoned (cancelled), not left open.
	noUpstreamLeft(t, fake)
	if resp, _ := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatal("the next request failed", resp.StatusCode)
	}
}

// Row: the stream goes silent longer than --keepalive but less than
// --stream-idle-timeout.
func TestFaultStreamSilenceKeepalive(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil, "--keepalive", "200ms", "--stream-idle-timeout", "10s")
	fake.SetChatFault(copilottest.Fault{StallAfter: 2, StallFor: 1500 * time.Millisecond, Count: 1})
	resp := g.postStream(t, streamBody)
	events, err := sse(resp)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	pings, sawPingBeforeRest := 0, false
	for i, ev := range events {
		if ev == ": ping" {
			pings++
			if i >= 2 && i < len(events)-1 {
				sawPingBeforeRest = true
			}
		}
		if strings.Contains(ev, `"error"`) {
			t.Fatalf("error event in a stream that only paused: %q", ev)
		}
	}
	if pings == 0 || !sawPingBeforeRest || events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("want pings during the pause and then the rest up to [DONE]: %q", events)
	}
	noUpstreamLeft(t, fake)
}

// Row: the stream is silent longer than --stream-idle-timeout.
func TestFaultStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil, "--keepalive", "100ms", "--stream-idle-timeout", "700ms")
	fake.SetChatFault(copilottest.Fault{StallAfter: 2, StallFor: time.Minute, Count: 1})
	resp := g.postStream(t, streamBody)
	events, err := sse(resp)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if !strings.HasPrefix(last, `data: {"error":`) || !strings.Contains(last, "idle timeout") || !strings.Contains(last, "upstream_timeout") {
		t.Fatalf("last event %q, want an error event naming the idle timeout", last)
	}
	for _, ev := range events {
		if ev == "data: [DONE]" {
			t.Fatal("a [DONE] after a timed-out stream")
		}
	}
	// The upstream request was cancelled, not left open.
	select {
	case <-fake.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("the silent upstream request was not cancelled")
	}
	noUpstreamLeft(t, fake)
	g.wantLog(t, "warn", "upstream stream ended with an error", "stream idle timeout")
}

// Row: the upstream drops the connection mid-stream.
func TestFaultStreamDropped(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "drop", "--rpm", "0")
	waitFor(t, 5*time.Second, "key loaded", func() bool {
		r, _ := g.do(t, http.MethodGet, "/v1/models", "", "x-api-key", k.Key)
		return r.StatusCode == 200
	})
	fake.SetChatFault(copilottest.Fault{DropAfter: 2, Count: 1})
	resp := g.postStream(t, streamBody, "x-api-key", k.Key)
	events, err := sse(resp)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("the client's stream did not end cleanly: %v", err)
	}
	if len(events) != 3 || !strings.HasPrefix(events[2], `data: {"error":`) || !strings.Contains(events[2], "upstream_error") {
		t.Fatalf("want the 2 relayed events and a final error event: %q", events)
	}
	g.wantLog(t, "warn", "upstream stream ended with an error")
	noUpstreamLeft(t, fake)
	g.stop(t) // flushes usage
	req, _, _, errs := sumUsage(usageRows(t, db, "drop"))
	if req != 1 || errs != 1 {
		t.Fatalf("usage: %d requests %d errors, want 1 and 1", req, errs)
	}
}

// Row: the client disconnects mid-stream. Not parallel: it measures the
// cancellation delay.
func TestFaultClientDisconnects(t *testing.T) {
	fake := copilottest.New(t)
	fake.SetStream(50, 100*time.Millisecond)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "leaver", "--rpm", "0")
	waitFor(t, 5*time.Second, "key loaded", func() bool {
		r, _ := g.do(t, http.MethodGet, "/v1/models", "", "x-api-key", k.Key)
		return r.StatusCode == 200
	})
	resp := g.postStream(t, streamBody, "x-api-key", k.Key)
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for len(fake.Canceled()) > 0 {
		<-fake.Canceled()
	}
	resp.Body.Close() // closes the connection mid-stream
	closed := time.Now()
	select {
	case ci := <-fake.Canceled():
		if d := ci.At.Sub(closed); d > 100*time.Millisecond {
			t.Fatalf("upstream cancelled %v after the client left, want < 100ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request not cancelled")
	}
	noUpstreamLeft(t, fake)
	g.wantLog(t, "info", `"error_code":"client_closed_request"`)
	g.stop(t)
	req, _, _, errs := sumUsage(usageRows(t, db, "leaver"))
	if req != 1 || errs != 0 {
		t.Fatalf("usage: %d requests %d errors, want 1 and 0 (a client that left is no error)", req, errs)
	}
}

// Row: 50 streams open, SIGTERM.
//
// What is observable from outside while draining: the listener is closed, so
// new connections are refused; every open stream runs to its [DONE]; the
// usage of all of them is in the database after run returns; run returns nil
// (exit 0). Readiness cannot be asked over HTTP once the listener is closed
// (net/http drops a request whose headers complete after Shutdown began), so
// "readiness 503 while the streams drain" is asserted on the gateway itself
// in TestFaultDrainingReadiness, which replays serve's shutdown sequence
// (SetDraining, then Shutdown) on a loopback server.
func TestFaultShutdownWithOpenStreams(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	fake.SetStream(15, 100*time.Millisecond) // ~1.6 s per stream
	g, db := startTeamGateway(t, fake, map[string]string{"COPILOT_PROXY_GLOBAL_CONCURRENCY": "0", "COPILOT_PROXY_GLOBAL_RPM": "0"})
	k := createKey(t, db, "--name", "drain", "--rpm", "0", "--concurrency", "0")
	waitFor(t, 5*time.Second, "key loaded", func() bool {
		r, _ := g.do(t, http.MethodGet, "/v1/models", "", "x-api-key", k.Key)
		return r.StatusCode == 200
	})

	const n = 50
	type result struct {
		events []string
		err    error
	}
	results := make(chan result, n)
	started := make(chan struct{}, n)
	for range n {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(streamBody))
			req.Header.Set("x-api-key", k.Key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := g.client.Do(req)
			if err != nil {
				started <- struct{}{}
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			started <- struct{}{}
			if err != nil {
				results <- result{err: err}
				return
			}
			rest, err := sse(&http.Response{Body: io.NopCloser(br)})
			results <- result{events: append([]string{strings.TrimSpace(first)}, rest...), err: err}
		}()
	}
	for range n {
		<-started
	}
	addr := strings.TrimPrefix(g.URL, "http://")
	g.cancel() // what main does on SIGTERM
	g.cancel = nil
	g.wantLog(t, "info", "shutting down")
	waitFor(t, 5*time.Second, "new connections are refused", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return true
	})
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("a stream failed during the drain: %v", r.err)
		}
		if len(r.events) == 0 || r.events[len(r.events)-1] != "data: [DONE]" {
			t.Fatalf("a stream was cut during the drain: %q", r.events)
		}
	}
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return")
	}
	g.client.CloseIdleConnections()
	g.wantLog(t, "info", "stopped")
	if req, _, _, _ := sumUsage(usageRows(t, db, "drain")); req != n {
		t.Fatalf("usage after the drain: %d requests, want %d", req, n)
	}
	noUpstreamLeft(t, fake)
}

// Row: a slow client sending headers byte by byte (slowloris).
func TestFaultSlowloris(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil, "--read-header-timeout", "1s")
	addr := strings.TrimPrefix(g.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cut := make(chan error, 1)
	go func() {
		// Read until the server closes the connection.
		_, err := io.Copy(io.Discard, c)
		cut <- err
	}()
	header := "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
	sent := 0
	// Meanwhile other clients are served.
	others := 0
	for sent < len(header) {
		select {
		case <-cut:
			if others == 0 {
				t.Fatal("no other client was served")
			}
			if sent == len(header) {
				t.Fatal("the whole header went through")
			}
			t.Logf("slow connection cut after %d of %d header bytes; %d other requests served meanwhile", sent, len(header), others)
			return
		default:
		}
		if _, err := c.Write([]byte{header[sent]}); err != nil {
			break // closed by the server
		}
		sent++
		if resp, _ := g.do(t, http.MethodGet, "/healthz", ""); resp.StatusCode != 200 {
			t.Fatal("another client was not served")
		}
		others++
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-cut:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow connection was never closed")
	}
	if sent == len(header) {
		t.Fatal("the slow client sent its whole header: the header timeout did not cut it")
	}
}

// Row: bad input of every kind gets its status in the OpenAI envelope.
func TestFaultBadInput(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil, "--max-body", "1KiB")
	for _, tc := range []struct {
		name, method, path, ct, body string
		status                       int
		code, says                   string
	}{
		{"body over the limit", "POST", "/v1/chat/completions", "application/json",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`, 413, "", "1 KiB limit"},
		{"invalid JSON", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o",`, 400, "", "JSON"},
		{"JSON not an object", "POST", "/v1/chat/completions", "application/json", `[1,2,3]`, 400, "", "object"},
		{"messages not an array", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o","messages":"hi"}`, 400, "", "messages"},
		{"wrong content type", "POST", "/v1/chat/completions", "text/plain", chatBody, 415, "", "application/json"},
		{"unknown route", "GET", "/v1/nothing-here", "", "", 404, "", "/v1/nothing-here"},
		{"wrong method", "DELETE", "/v1/chat/completions", "", "", 405, "", "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, g.URL+tc.path, strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			resp, err := g.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			msg := wantError(t, resp, b, tc.status, tc.code)
			if !strings.Contains(msg, tc.says) || len(msg) < 15 {
				t.Errorf("message %q does not say %q", msg, tc.says)
			}
			for _, jargon := range []string{"json: ", "unmarshal", "Go value", "http: "} {
				if strings.Contains(msg, jargon) {
					t.Errorf("message %q has Go jargon %q", msg, jargon)
				}
			}
			g.wantLog(t, "", `"request_id":"`+resp.Header.Get("X-Request-Id")+`"`, fmt.Sprintf(`"status":%d`, tc.status), `"error_code":"`+gotCode(b)+`"`)
		})
	}
	if n := len(fake.RequestsTo("/chat/completions")); n != 0 {
		t.Fatalf("%d bad requests reached the upstream", n)
	}
}

// Row: header injection attempts. Raw requests (a Go client refuses to send
// CR/LF in a header) carrying a client Authorization, Copilot-* and editor
// headers, an obs-folded X-Request-Id and a bare CR: nothing of the client's
// reaches the upstream but the body and the allowed request id.
func TestFaultHeaderInjection(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	g := startGateway(t, fake, nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	raw := func(extra string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := `{"model":"gpt-4o","messages":[{"role":"user","content":"inject"}]}`
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n%s", len(body), extra, body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	allowed := map[string]bool{
		"Authorization": true, "Content-Type": true, "Content-Length": true, "Accept": true, "Accept-Encoding": true,
		"Copilot-Integration-Id": true, "Editor-Version": true, "Editor-Plugin-Version": true, "User-Agent": true,
		"Openai-Intent": true, "X-Github-Api-Version": true, "X-Request-Id": true, "X-Initiator": true,
	}
	clientHeaders := "Authorization: Bearer sk-client-injected\r\n" +
		"Copilot-Integration-Id: evil-integration\r\n" +
		"Copilot-Vision-Request: true\r\n" +
		"Editor-Version: evil/6.6.6\r\n" +
		"Openai-Intent: evil-intent\r\n" +
		"X-Initiator: agent\r\n" +
		"X-Github-Api-Version: 1999-01-01\r\n" +
		"X-Forwarded-For: 10.6.6.6\r\n" +
		"Cookie: session=evil\r\n" +
		"X-Evil: yes\r\n"
	for _, tc := range []struct {
		name, extra string
		wantRID     string // "" = a fresh id, not the client's
	}{
		{"well-formed request id passes", clientHeaders + "X-Request-Id: client-rid-123\r\n", "client-rid-123"},
		{"obs-fold in the request id", clientHeaders + "X-Request-Id: abc\r\n Injected-Header: yes\r\n", ""},
		{"CR inside a value", clientHeaders + "X-Request-Id: abc\rInjected-Header: yes\r\n", ""},
		// A bare LF ends a header line (RFC 9112 allows it): the id is then
		// the well-formed "abc" and Injected-Header a separate client header,
		// which must not reach the upstream.
		{"LF inside a value", clientHeaders + "X-Request-Id: abc\nInjected-Header: yes\r\n", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(fake.RequestsTo("/chat/completions"))
			status, body := raw(tc.extra)
			reqs := fake.RequestsTo("/chat/completions")
			if len(reqs) == n {
				// Refused before reaching the upstream: fine, if it says so.
				if status != 400 {
					t.Fatalf("refused with %d %s", status, body)
				}
				return
			}
			if status != 200 {
				t.Fatalf("status %d %s", status, body)
			}
			up := reqs[len(reqs)-1]
			for name, vs := range up.Header {
				if !allowed[name] {
					t.Errorf("client header %s: %q reached the upstream", name, vs)
				}
				for _, v := range vs {
					if strings.ContainsAny(v, "\r\n") || strings.Contains(v, "evil") || strings.Contains(v, "Injected") || strings.Contains(v, "sk-client") {
						t.Errorf("upstream %s: %q carries client input", name, v)
					}
				}
			}
			if got := up.Header.Get("X-Initiator"); got != "user" {
				t.Errorf("X-Initiator %q: the client's value won over the last-message rule", got)
			}
			if got := up.Header.Get("Copilot-Integration-Id"); got != "vscode-chat" {
				t.Errorf("Copilot-Integration-Id %q", got)
			}
			if !strings.HasPrefix(up.Header.Get("Authorization"), "Bearer tid=") {
				t.Error("upstream Authorization is not the Copilot token")
			}
			rid := up.Header.Get("X-Request-Id")
			if tc.wantRID != "" && rid != tc.wantRID {
				t.Errorf("X-Request-Id %q, want the client's %q", rid, tc.wantRID)
			}
			if tc.wantRID == "" && (rid == "" || strings.Contains(rid, "abc")) {
				t.Errorf("X-Request-Id %q: a malformed client id was passed on", rid)
			}
			if !strings.Contains(string(up.Body), `"content":"inject"`) {
				t.Errorf("body not forwarded: %s", up.Body)
			}
		})
	}
	if strings.Contains(g.Logs.String(), "sk-client-injected") {
		t.Fatal("the client's Authorization reached the logs")
	}
}
