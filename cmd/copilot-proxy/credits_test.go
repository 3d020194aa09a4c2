package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
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
	return g.do(t, http.MethodPost, q.path, q.body(), "Authorization", "Bearer "+key)
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
	fake.SetCachedTokens(100)
	var wantPriced int64
	for _, p := range []struct {
		q                   inference
		in, cached, outNano int64 // nano-credits per token
	}{
		{inference{path: "/v1/chat/completions", model: "gpt-5"}, 125_000, 12_500, 1_000_000},
		{inference{path: "/v1/responses", model: "gpt-5"}, 125_000, 12_500, 1_000_000},
		{inference{path: "/v1/responses", model: "claude-haiku-4.5"}, 100_000, 10_000, 500_000},         // → chat
		{inference{path: "/v1/messages", model: "claude-haiku-4-5-20251001"}, 100_000, 10_000, 500_000}, // native
	} {
		resp, b := g.send(t, k.Key, p.q)
		u := answerUsage(t, b)
		if resp.StatusCode != http.StatusOK || u.CachedTokens != 100 {
			t.Fatalf("priced %+v: %d %s", p.q, resp.StatusCode, b)
		}
		wantPriced += (u.PromptTokens-u.CachedTokens)*p.in + u.CachedTokens*p.cached + u.CompletionTokens*p.outNano
	}
	fake.SetCachedTokens(0)
	g.send(t, k.Key, inference{"/v1/responses", "claude-sonnet-4", false, ""})        // → chat, multiplier 1
	g.send(t, k.Key, inference{"/v1/chat/completions", "claude-sonnet-4", false, ""}) // multiplier 1
	g.send(t, k.Key, inference{"/v1/messages", "claude-sonnet-4", true, ""})          // native, multiplier 1
	wantMultiplier := int64(3 * credits.PremiumRequest)
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

// answerUsage reads the usage of a non-stream answer of any of the APIs.
func answerUsage(t *testing.T, b []byte) api.Usage {
	t.Helper()
	var w struct {
		Usage api.Usage `json:"usage"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return w.Usage
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
	getJSON(t, g, path, creditsAdminToken, v)
}

// getJSON GETs path with token as the bearer and decodes a 200 answer into v.
func getJSON(t *testing.T, g *testGateway, path, token string, v any) {
	t.Helper()
	resp, b := g.do(t, http.MethodGet, path, "", "Authorization", "Bearer "+token)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
}

// checkMetricCredits holds copilot_proxy_credits_total of the key, summed
// per source over models, to want (in nano-credits).
func checkMetricCredits(t *testing.T, g *testGateway, keyID string, want map[string]int64) {
	t.Helper()
	got := metricCredits(t, g, keyID)
	for src, nano := range want {
		if w := float64(nano) / 1e9; got[src] < w-1e-9 || got[src] > w+1e-9 {
			t.Errorf("credits_total{source=%q} = %v, want %v", src, got[src], w)
		}
	}
}

// metricCredits scrapes copilot_proxy_credits_total of the key, summed per
// source over models; a source without a series is absent.
func metricCredits(t *testing.T, g *testGateway, keyID string) map[string]float64 {
	t.Helper()
	_, page := g.do(t, http.MethodGet, "/metrics", "", "Authorization", "Bearer "+creditsAdminToken)
	got := map[string]float64{}
	for _, line := range strings.Split(string(page), "\n") {
		if !strings.HasPrefix(line, "copilot_proxy_credits_total{") || !strings.Contains(line, `key_id="`+keyID+`"`) {
			continue
		}
		i := strings.Index(line, `source="`)
		src := line[i+8:]
		src = src[:strings.IndexByte(src, '"')]
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		got[src] += v
	}
	return got
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

// A model whose entry carries no billing at all is counted at 0 credits
// with the source unknown, so the gap shows in the metric.
func TestCreditsUnknownSource(t *testing.T) {
	models := strings.TrimSuffix(copilottest.DefaultModelsJSON, "]}") +
		`,{"id":"mystery-1","name":"Mystery","object":"model","vendor":"Nobody","capabilities":{"type":"chat"}}]}`
	fake := copilottest.New(t, copilottest.WithModelsJSON(models))
	g, db := startTeamGateway(t, fake, map[string]string{
		"COPILOT_PROXY_ADMIN_TOKEN": creditsAdminToken, "COPILOT_PROXY_METRICS": "true"})
	k := createKey(t, db, "--name", "alice")
	var list struct{ Data []struct{ ID string } }
	modelsGet(t, g, k.Key, &list)                                             // routing and pricing read the cached list
	g.send(t, k.Key, inference{path: "/v1/chat/completions", model: "gpt-5"}) // a priced model for contrast
	for _, stream := range []bool{false, true} {
		if resp, b := g.send(t, k.Key, inference{"/v1/chat/completions", "mystery-1", stream, ""}); resp.StatusCode != http.StatusOK {
			t.Fatalf("mystery-1: %d %s", resp.StatusCode, b)
		}
	}
	eventually(t, "the requests are recorded", func() bool {
		rows := usageRows(t, db, "alice")
		return len(rows) == 2 && rows[0].Model == "gpt-5" && rows[0].CreditsNano > 0 &&
			rows[1].Model == "mystery-1" && rows[1].Requests == 2 && rows[1].CreditsNano == 0
	})
	got := metricCredits(t, g, k.ID)
	if v, ok := got["unknown"]; !ok || v != 0 || got["reported"] <= 0 {
		t.Errorf("credits_total by source: %v, want unknown 0 beside reported", got)
	}
}

// modelsGet reads GET /v1/models with key into v.
func modelsGet(t *testing.T, g *testGateway, key string, v any) {
	t.Helper()
	getJSON(t, g, "/v1/models", key, v)
}
