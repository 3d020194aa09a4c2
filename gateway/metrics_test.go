package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/metrics"
)

// series returns every series of a metric family as its label set.
func series(t *testing.T, m *metrics.Metrics, name string) []map[string]string {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			out = append(out, labelMap(mt))
		}
	}
	return out
}

func labelMap(mt *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range mt.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// chatAndModelsUpstream answers the model list and non-stream chats.
var chatAndModelsUpstream = upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
	if call.Path == "/models" {
		return response(http.StatusOK, jsonHeader(), copilotModels), nil
	}
	return response(http.StatusOK, jsonHeader(), `{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`), nil
})

func TestMetricsEndpointOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	const admin = "admin-token-0123456789abcdef"
	tests := []struct {
		name   string
		deps   func(*gateway.Deps)
		header string
		want   int
	}{
		{"metrics off", func(d *gateway.Deps) {}, "", 404},
		{"recorded but served elsewhere", func(d *gateway.Deps) { d.Metrics = metrics.New(metrics.Config{}) }, "", 404},
		{"served", func(d *gateway.Deps) { d.Metrics, d.ServeMetrics = metrics.New(metrics.Config{}), true }, "", 200},
		{"admin token set, none sent", func(d *gateway.Deps) {
			d.Metrics, d.ServeMetrics, d.AdminToken = metrics.New(metrics.Config{}), true, admin
		}, "", 401},
		{"admin token set and sent", func(d *gateway.Deps) {
			d.Metrics, d.ServeMetrics, d.AdminToken = metrics.New(metrics.Config{}), true, admin
		}, "Bearer " + admin, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, chatAndModelsUpstream, tt.deps)
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("GET /metrics = %d, want %d: %.200s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 200 {
				for _, want := range []string{"# TYPE copilot_proxy_streams_active gauge", "go_goroutines", "process_cpu_seconds_total"} {
					if !strings.Contains(string(body), want) {
						t.Errorf("scrape lacks %q", want)
					}
				}
				if tt.header != "" && strings.Contains(string(body), admin) {
					t.Error("the admin token appears in the scrape")
				}
			}
		})
	}
}

// TestMetricsModelLabelBounded sends 1,000 different unknown model names:
// they all share the label "other", so the series stay few.
func TestMetricsModelLabelBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	ts := start(t, chatAndModelsUpstream, func(d *gateway.Deps) { d.Metrics = m })

	// Before any list was fetched every model is "other"; the list, once
	// cached, makes the listed ones known.
	post(t, ts, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	if resp, _ := do(t, ts, http.MethodGet, "/v1/models", "", ""); resp.StatusCode != 200 {
		t.Fatalf("models: %d", resp.StatusCode)
	}
	post(t, ts, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)

	const n = 1000
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				body := fmt.Sprintf(`{"model":"unknown-model-%d-ghu_secretlooking%d","messages":[{"role":"user","content":"hi"}]}`, i, i)
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := ts.Client().Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()

	models := map[string]bool{}
	var other, refused float64
	fams, _ := m.Registry().Gather()
	for _, f := range fams {
		if f.GetName() != "copilot_proxy_http_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			l := labelMap(mt)
			models[l["model"]] = true
			if l["model"] == "other" && l["route"] == "/v1/chat/completions" {
				other += mt.GetCounter().GetValue()
			}
			if l["model"] == "none" && l["route"] == "/v1/chat/completions" && l["status"] == "404" {
				refused += mt.GetCounter().GetValue()
			}
		}
	}
	for model := range models {
		if model != "gpt-4o" && model != "other" && model != "none" {
			t.Errorf("model label %q: only listed models, other and none may appear", model)
		}
	}
	// The gpt-4o before the list was known is "other"; once the list is
	// known the 1,000 unlisted names are refused (404) before their model
	// is noted, so they are "none".
	if other != 1 || refused != n {
		t.Errorf("other = %v, refused unlisted = %v; want 1 and %d", other, refused, n)
	}
	if got := len(series(t, m, "copilot_proxy_http_requests_total")); got > 5 {
		t.Errorf("%d request series for 1,000 model names", got)
	}
	if got := len(series(t, m, "copilot_proxy_tokens_total")); got > 4 {
		t.Errorf("%d token series for 1,000 model names", got)
	}

	// Nothing a client sent as a model name reaches the scrape.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if strings.Contains(rec.Body.String(), "unknown-model") || strings.Contains(rec.Body.String(), "ghu_") {
		t.Error("a client-supplied model name appears in the scrape")
	}
}

// The model list behind the labels is fetched in the background when it is
// missing, so models become known even if no client ever lists them.
// TestMetricsModelLabelNeverFetches: looking up a model label reads the
// cached list only. Before any list was fetched the label is "other" and
// no request for the label reaches the upstream; once the list is fetched
// (the cmd fetches it at start), the label is the model.
func TestMetricsModelLabelNeverFetches(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	up := &recorder{fn: chatAndModelsUpstream}
	srv := gateway.NewServer(gateway.Deps{Logger: zerolog.Nop(), Upstream: up, Metrics: m})
	ts := serve(t, srv)
	label := func() string {
		t.Helper()
		post(t, ts, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		var got string
		for _, l := range series(t, m, "copilot_proxy_http_requests_total") {
			if l["route"] == "/v1/chat/completions" {
				got = l["model"]
			}
		}
		return got
	}
	for range 3 {
		if got := label(); got != "other" {
			t.Fatalf("label before any model list = %q, want other", got)
		}
	}
	for _, c := range up.Calls() {
		if c.Path != "/chat/completions" {
			t.Fatalf("the label lookup reached the upstream: %s %s", c.Method, c.Path)
		}
	}
	if _, err := srv.Models(context.Background()); err != nil {
		t.Fatal(err)
	}
	found := false
	post(t, ts, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	for _, l := range series(t, m, "copilot_proxy_http_requests_total") {
		found = found || l["model"] == "gpt-4o"
	}
	if !found {
		t.Fatal("the model label is not gpt-4o once the list is cached")
	}
}

// TestMetricsAuthRejections counts a bad client key as an "auth" rejection,
// and a wrong admin token not: the admin API is not client authentication.
func TestMetricsAuthRejections(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	st := openStore(t)
	ts := start(t, chatAndModelsUpstream, func(d *gateway.Deps) {
		d.Metrics, d.Keys, d.AdminToken = m, st, adminToken
	})
	authRejections := func() float64 {
		t.Helper()
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, f := range fams {
			if f.GetName() != "copilot_proxy_limit_rejections_total" {
				continue
			}
			for _, mt := range f.GetMetric() {
				if labelMap(mt)["reason"] == "auth" {
					n += mt.GetCounter().GetValue()
				}
			}
		}
		return n
	}

	if status, body := adminCall(t, ts.URL, http.MethodGet, "/admin/keys", "wrong-admin-token-0123456789", ""); status != http.StatusUnauthorized {
		t.Fatalf("wrong admin token: %d %s", status, body)
	}
	if n := authRejections(); n != 0 {
		t.Fatalf("a wrong admin token counted as %v auth rejections, want 0", n)
	}

	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer cp-not-a-real-key")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad client key: %d", resp.StatusCode)
	}
	if n := authRejections(); n != 1 {
		t.Fatalf("auth rejections after a bad client key = %v, want 1", n)
	}
}
