package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/credits"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

const creditsAdminToken = "admin-token-credits-0123456789abcdef"

// inference is one request of the credits tests: an API path, a model and
// whether it streams.
type inference struct {
	path, model string
	stream      bool
	raw         string // the body as is, instead of a generated one
}

// body is a minimal real request of the path's API.
func (q inference) body() string {
	if q.raw != "" {
		return q.raw
	}
	s := strconv.FormatBool(q.stream)
	switch q.path {
	case "/v1/responses":
		return `{"model":"` + q.model + `","input":"hi","stream":` + s + `}`
	case "/v1/messages":
		return `{"model":"` + q.model + `","max_tokens":256,"messages":[{"role":"user","content":"hi"}],"stream":` + s + `}`
	}
	return `{"model":"` + q.model + `","messages":[{"role":"user","content":"hi"}],"stream":` + s + `}`
}

// send makes the request with key and reads the whole answer.
func (g *testGateway) send(t *testing.T, key string, q inference) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+q.path, strings.NewReader(q.body()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := g.client.Do(req)
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

// The cost of every request, on each API, stream or not, native or
// translated, is recorded with its source, and the CLI, the admin API and
// the metric all show exactly what the fake upstream reported (plus what
// the gateway priced itself when nothing was reported).
func TestCreditsEndToEnd(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, map[string]string{
		"COPILOT_PROXY_ADMIN_TOKEN": creditsAdminToken, "COPILOT_PROXY_METRICS": "true"})
	k := createKey(t, db, "--name", "alice")

	var reported []inference
	for _, q := range []inference{
		{"/v1/chat/completions", "gpt-5", false, ""},              // native chat
		{"/v1/chat/completions", "gpt-5-codex", false, ""},        // chat → /responses
		{"/v1/responses", "gpt-5", false, ""},                     // native
		{"/v1/responses", "claude-sonnet-4.5", false, ""},         // → chat
		{"/v1/messages", "claude-sonnet-4-5-20250929", false, ""}, // native
		{"/v1/messages", "gpt-5", false, ""},                      // → chat
		{"/v1/messages", "gpt-5-codex", false, ""},                // → /responses
	} {
		reported = append(reported, q, inference{q.path, q.model, true, ""})
	}
	for _, q := range reported {
		if resp, b := g.send(t, k.Key, q); resp.StatusCode != http.StatusOK {
			t.Fatalf("%+v: %d %s", q, resp.StatusCode, b)
		}
	}
	wantReported := fake.ReportedCost()
	if wantReported <= 0 {
		t.Fatal("the fake reported no cost")
	}

	// Nothing reported: the gateway prices the tokens, or counts premium
	// requests, or, from a header, takes what that says.
	fake.SetReportCost(false)
	resp, b := g.send(t, k.Key, inference{path: "/v1/chat/completions", model: "gpt-5"})
	var chat struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &chat); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("priced chat: %d %s", resp.StatusCode, b)
	}
	// gpt-5: 125 credits per million input tokens, 1000 per million output.
	wantPriced := chat.Usage.PromptTokens*125_000 + chat.Usage.CompletionTokens*1_000_000
	g.send(t, k.Key, inference{"/v1/chat/completions", "claude-sonnet-4", false, ""}) // multiplier 1
	g.send(t, k.Key, inference{"/v1/messages", "claude-sonnet-4", true, ""})          // native, multiplier 1
	wantMultiplier := int64(2 * credits.PremiumRequest)
	fake.SetCostHeader(777)
	g.send(t, k.Key, inference{"/v1/chat/completions", "gpt-4o", false, ""})
	wantReported += 777

	want := map[string]int64{"reported": wantReported, "priced": wantPriced, "multiplier": wantMultiplier}
	total := wantReported + wantPriced + wantMultiplier
	var rows []keys.UsageRow
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rows = usageRows(t, db, "alice"); sumCredits(rows) == total {
			break
		}
	}
	if got := sumCredits(rows); got != total {
		t.Fatalf("usage rows: %d credits, want %d (%+v): %+v", got, total, want, rows)
	}
	checkAdminCredits(t, g, k.ID, total)
	checkMetricCredits(t, g, k.ID, want)
	out := mustCLI(t, db, "keys", "list", "--json")
	var list []keys.KeyWithUsage
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].CreditsNano != total {
		t.Fatalf("keys list: %s", out)
	}
}

func sumCredits(rows []keys.UsageRow) int64 {
	var n int64
	for _, r := range rows {
		n += r.CreditsNano
	}
	return n
}

// checkAdminCredits holds GET /admin/usage and /admin/keys to total.
func checkAdminCredits(t *testing.T, g *testGateway, keyID string, total int64) {
	t.Helper()
	var rows []keys.UsageRow
	adminGet(t, g, "/admin/usage", &rows)
	if got := sumCredits(rows); got != total {
		t.Errorf("/admin/usage credits %d, want %d", got, total)
	}
	var list []struct {
		ID          string         `json:"id"`
		Credits     credits.Amount `json:"credits"`
		CreditsNano int64          `json:"credits_nano"`
	}
	adminGet(t, g, "/admin/keys", &list)
	if len(list) != 1 || list[0].ID != keyID || list[0].CreditsNano != total || int64(list[0].Credits) != total {
		t.Errorf("/admin/keys: %+v, want %d nano", list, total)
	}
}

func adminGet(t *testing.T, g *testGateway, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+creditsAdminToken)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
}

// checkMetricCredits holds copilot_proxy_credits_total of the key, summed
// per source over models, to want (in nano-credits).
func checkMetricCredits(t *testing.T, g *testGateway, keyID string, want map[string]int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+creditsAdminToken)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := map[string]float64{}
	sc := bufio.NewScanner(resp.Body) // a metrics page, not a stream body
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "copilot_proxy_credits_total{") || !strings.Contains(line, `key_id="`+keyID+`"`) {
			continue
		}
		i := strings.Index(line, `source="`)
		src := line[i+8:]
		src = src[:strings.IndexByte(src, '"')]
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		got[src] += v
	}
	for src, nano := range want {
		if w := float64(nano) / 1e9; got[src] < w-1e-9 || got[src] > w+1e-9 {
			t.Errorf("credits_total{source=%q} = %v, want %v", src, got[src], w)
		}
	}
}

// A stream cut before its usage is charged for what it used so far: the
// prompt estimated from the request and a token per event relayed, at the
// model's prices (source priced), on the native and the translated path.
func TestCreditsStreamCutEarly(t *testing.T) {
	fake := copilottest.New(t)
	g, db := startTeamGateway(t, fake, nil)
	k := createKey(t, db, "--name", "alice")
	fake.SetFault(copilottest.PathChat, copilottest.Fault{DropAfter: 3})
	g.send(t, k.Key, inference{"/v1/chat/completions", "gpt-5", true, ""}) // native
	g.send(t, k.Key, inference{"/v1/messages", "gpt-5", true, ""})         // translated
	var rows []keys.UsageRow
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rows = usageRows(t, db, "alice"); len(rows) == 1 && rows[0].Requests == 2 && rows[0].CreditsNano > 0 {
			break
		}
	}
	if len(rows) != 1 || rows[0].Errors != 2 || rows[0].PromptTokens == 0 || rows[0].CompletionTokens == 0 {
		t.Fatalf("rows %+v: want two failed requests with estimated tokens", rows)
	}
	// gpt-5's prices applied to the estimated tokens.
	want := rows[0].PromptTokens*125_000 + rows[0].CompletionTokens*1_000_000
	if rows[0].CreditsNano != want {
		t.Errorf("charged %d nano for %d+%d tokens, want %d", rows[0].CreditsNano, rows[0].PromptTokens, rows[0].CompletionTokens, want)
	}
}
