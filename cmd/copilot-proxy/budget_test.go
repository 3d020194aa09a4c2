package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// gpt5Cost is what the fake reports for a non-stream gpt-5 chat: 11 prompt
// tokens at 125 credits per million and 7 completion tokens at 1000.
const gpt5Cost = 11*125_000 + 7*1_000_000

// budgetChat is a chat whose estimate (its 94-byte body as 24 prompt
// tokens, and max_tokens 7) is close above what it costs.
const budgetChat = `{"model":"gpt-5","max_tokens":7,"messages":[{"role":"user","content":"what is a budget? hi"}]}`

func (g *testGateway) post(t *testing.T, key, path, body string) (*http.Response, []byte) {
	t.Helper()
	return g.send(t, key, inference{path: path, model: "", stream: false, raw: body})
}

// A budget of five requests' cost, under 20 parallel requests held in
// flight by the upstream: exactly five pass, the spend lands on the budget,
// and from then on the key is refused with budget_exceeded in each route's
// shape, the budget, the spend and the reset in the message.
func TestBudgetEndToEnd(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	// 5 × gpt5Cost = 0.041875 credits.
	k := createKey(t, db, "--name", "alice", "--rpm", "0", "--concurrency", "0", "--budget", "0.041875", "--budget-period", "day")
	fake.SetLatency(300 * time.Millisecond)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Go(func() {
			resp, _ := g.post(t, k.Key, "/v1/chat/completions", budgetChat)
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[200] != 5 || n[429] != 15 {
		t.Fatalf("statuses %v, want 5×200 and 15×429", n)
	}
	fake.SetLatency(0)
	resp, body := g.post(t, k.Key, "/v1/chat/completions", budgetChat)
	e := decodeEnvelope(t, body)
	if resp.StatusCode != 429 || e.Error.Code != "budget_exceeded" || resp.Header.Get("X-Copilot-Proxy-Budget-Remaining") != "0" ||
		!strings.Contains(e.Error.Message, "0.041875 of 0.041875 AI credits per day") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after the budget: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = g.post(t, k.Key, "/v1/messages", `{"model":"claude-sonnet-4.5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	var ae struct {
		Type  string
		Error struct{ Type, Message, Code string }
	}
	if json.Unmarshal(body, &ae) != nil || resp.StatusCode != 429 || ae.Type != "error" || ae.Error.Type != "rate_limit_error" || ae.Error.Code != "budget_exceeded" {
		t.Fatalf("messages after the budget: %d %s", resp.StatusCode, body)
	}
	waitFor(t, 5*time.Second, "the spend is recorded", func() bool {
		return sumCredits(usageRows(t, db, "alice")) == 5*gpt5Cost
	})
	if calls := len(fake.RequestsTo(copilottest.PathChat)); calls != 5 {
		t.Errorf("%d requests reached Copilot, want 5", calls)
	}
}

// keys update, run by the CLI against the database of a running server,
// takes effect there within a second: a budget of 0 refuses the key, and
// clearing it lets the key through again.
func TestKeysUpdateLive(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "alice")
	if resp, body := g.post(t, k.Key, "/v1/chat/completions", budgetChat); resp.StatusCode != 200 {
		t.Fatalf("before: %d %s", resp.StatusCode, body)
	}
	for _, step := range []struct {
		args []string
		want int
	}{
		{[]string{"--budget", "0"}, 429},
		{[]string{"--budget", "none"}, 200},
		{[]string{"--rpm", "1"}, 429}, // the request above already used the minute's one
		{[]string{"--rpm", "default"}, 200},
	} {
		mustCLI(t, db, append([]string{"keys", "update", "alice"}, step.args...)...)
		start := time.Now()
		waitFor(t, time.Second, "keys update "+strings.Join(step.args, " ")+" takes effect", func() bool {
			resp, _ := g.post(t, k.Key, "/v1/chat/completions", budgetChat)
			return resp.StatusCode == step.want
		})
		t.Logf("keys update %s: in effect after %v", strings.Join(step.args, " "), time.Since(start).Round(time.Millisecond))
	}
}

type envelopeJSON struct {
	Error struct{ Code, Type, Message string }
}

func decodeEnvelope(t *testing.T, b []byte) envelopeJSON {
	t.Helper()
	var e envelopeJSON
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error envelope: %s", b)
	}
	return e
}

// --global-budget caps every key together: once the gateway's spend
// passes it, each key is refused, naming the global budget.
func TestGlobalBudgetFlag(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, map[string]string{
		"COPILOT_PROXY_GLOBAL_BUDGET": "0.001", "COPILOT_PROXY_GLOBAL_BUDGET_PERIOD": "week"})
	a := createKey(t, db, "--name", "alice")
	b := createKey(t, db, "--name", "bob")
	if resp, body := g.post(t, a.Key, "/v1/chat/completions", budgetChat); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body) // 0.008375 credits: past the budget
	}
	for _, k := range []keyJSON{a, b} {
		resp, body := g.post(t, k.Key, "/v1/chat/completions", budgetChat)
		e := decodeEnvelope(t, body)
		if resp.StatusCode != 429 || e.Error.Code != "budget_exceeded" || !strings.Contains(e.Error.Message, "global budget") ||
			!strings.Contains(e.Error.Message, "per week") {
			t.Fatalf("%s after the global budget: %d %s", k.Name, resp.StatusCode, body)
		}
	}
}
