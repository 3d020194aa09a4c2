package metrics_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/metrics"
)

// populated returns metrics in which every family has at least one series.
func populated(t *testing.T) *metrics.Metrics {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Config{
		Now: func() time.Time { return now },
		Token: func() metrics.TokenStatus {
			return metrics.TokenStatus{Valid: true, ExpiresAt: now.Add(25 * time.Minute)}
		},
		Quota: func() []metrics.Quota {
			return []metrics.Quota{
				{Name: "premium_interactions", PercentRemaining: 40, Entitlement: 300},
				{Name: "chat", PercentRemaining: 100, Unlimited: true},
				{Name: "something_new", PercentRemaining: 1}, // not exported: unbounded names
			}
		},
	})
	m.ObserveRequest(&metrics.Request{Route: "/v1/chat/completions", Model: "gpt-4o", KeyID: "k1", Status: 200,
		Duration: time.Second, UpstreamStatus: 200, Upstream: 900 * time.Millisecond, Overhead: time.Millisecond,
		PromptTokens: 11, CompletionTokens: 7, CreditsNano: 8_375_000, CreditSource: "reported"})
	m.BudgetThreshold("k1", 80)
	m.RedisDown(false)
	m.ObserveRequest(&metrics.Request{Route: "/v1/chat/completions", Model: metrics.None, KeyID: metrics.None, Status: 429, Rejected: "rpm", Overhead: -1})
	m.ObserveRequest(&metrics.Request{Route: "/v1/chat/completions", Model: "gpt-4o", KeyID: "k1", Status: 504, UpstreamError: "upstream_timeout", Overhead: -1})
	m.StreamStarted()
	m.StreamEnded(200*time.Millisecond, 3*time.Second, 12, metrics.StreamClientDisconnect)
	m.TokenExchange(300*time.Millisecond, nil)
	m.TokenExchange(time.Second, errors.New("GitHub is down"))
	return m
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape = %d", rec.Code)
	}
	return rec.Body.String()
}

func TestScrape(t *testing.T) {
	t.Parallel()
	text := scrape(t, populated(t))
	for _, want := range []string{
		`copilot_proxy_http_requests_total{key_id="k1",model="gpt-4o",route="/v1/chat/completions",status="200"} 1`,
		`copilot_proxy_http_requests_total{key_id="none",model="none",route="/v1/chat/completions",status="429"} 1`,
		`copilot_proxy_limit_rejections_total{reason="rpm"} 1`,
		`copilot_proxy_upstream_errors_total{code="upstream_timeout",route="/v1/chat/completions"} 1`,
		`copilot_proxy_upstream_responses_total{route="/v1/chat/completions",status="200"} 1`,
		`copilot_proxy_gateway_overhead_seconds_count{route="/v1/chat/completions"} 1`,
		`copilot_proxy_tokens_total{key_id="k1",model="gpt-4o",type="prompt"} 11`,
		`copilot_proxy_tokens_total{key_id="k1",model="gpt-4o",type="completion"} 7`,
		`copilot_proxy_streams_active 0`,
		`copilot_proxy_stream_events_total 12`,
		`copilot_proxy_streams_ended_total{reason="client_disconnect"} 1`,
		`copilot_proxy_streams_ended_total{reason="complete"} 0`,
		`copilot_proxy_stream_time_to_first_byte_seconds_count 1`,
		`copilot_proxy_copilot_token_refreshes_total{result="success"} 1`,
		`copilot_proxy_copilot_token_refreshes_total{result="failure"} 1`,
		`copilot_proxy_copilot_token_exchange_duration_seconds_count 2`,
		`copilot_proxy_copilot_token_valid 1`,
		`copilot_proxy_copilot_token_expiry_seconds 1500`,
		`copilot_proxy_quota_remaining_percent{quota="premium_interactions"} 40`,
		`copilot_proxy_quota_entitlement{quota="premium_interactions"} 300`,
		`copilot_proxy_quota_unlimited{quota="chat"} 1`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(text, "something_new") {
		t.Error("an unknown quota name was exported")
	}
}

// TestDashboard checks that the shipped Grafana dashboard is valid JSON and
// that every metric it queries exists.
func TestDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../deploy/grafana/copilot-proxy.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	text := scrape(t, populated(t))
	have := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		have[name] = true
	}
	metricName := regexp.MustCompile(`\b(copilot_proxy_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+)\b`)
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				queried[name] = true
				if !have[name] {
					t.Errorf("panel %q queries %s, which the gateway does not export", p.Title, name)
				}
			}
		}
	}
	// Every gateway family is on the dashboard.
	for name := range have {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		if !queried[name] && !queried[base+"_bucket"] && !queried[base] {
			t.Errorf("metric %s is not on the dashboard", name)
		}
	}
}
