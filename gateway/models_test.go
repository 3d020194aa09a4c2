package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

const copilotModels = `{"object":"list","data":[
 {"id":"gpt-4o","name":"GPT-4o","vendor":"Azure OpenAI","version":"gpt-4o-2024-11-20","preview":false,
  "model_picker_enabled":true,"policy":{"state":"enabled"},"billing":{"is_premium":false,"multiplier":0},
  "supported_endpoints":["/chat/completions"],
  "capabilities":{"type":"chat","family":"gpt-4o","limits":{"max_context_window_tokens":128000},"supports":{"streaming":true,"tool_calls":true}}},
 {"id":"claude-sonnet-4.5","name":"Claude Sonnet 4.5","vendor":"Anthropic","capabilities":{"type":"chat"}},
 {"id":"text-embedding-3-small","name":"Embedding V3 small","capabilities":{"type":"embeddings"}},
 {"id":"org/custom-model","vendor":"Org","capabilities":{"type":"chat"}}
]}`

// clock is a settable time for the model cache.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time              { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)         { c.ns.Add(int64(d)) }
func withClock(c *clock) func(*gateway.Deps) { return func(d *gateway.Deps) { d.Now = c.Now } }

// modelsUpstream serves the model list, or fails while fail is set.
type modelsUpstream struct {
	calls atomic.Int32
	fail  atomic.Pointer[error]
	gate  chan struct{} // when non-nil, each call waits for it to close
}

func (m *modelsUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	m.calls.Add(1)
	if req.Method != http.MethodGet || req.URL.Path != "/models" {
		return nil, errors.New("unexpected call " + req.Method + " " + req.URL.Path)
	}
	if m.gate != nil {
		<-m.gate
	}
	if p := m.fail.Load(); p != nil {
		return nil, *p
	}
	return response(http.StatusOK, jsonHeader(), copilotModels), nil
}

func TestModelsList(t *testing.T) {
	t.Parallel()
	ts := start(t, &modelsUpstream{})
	for _, path := range []string{"/v1/models", "/models"} {
		resp, body := do(t, ts, http.MethodGet, path, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
		var list struct {
			Object string                       `json:"object"`
			Data   []map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if list.Object != "list" || len(list.Data) != 4 {
			t.Fatalf("list = %s", body)
		}
		wantOwner := []string{"azure-openai", "anthropic", "github-copilot", "org"}
		for i, m := range list.Data {
			var owner, object string
			var created int64
			_ = json.Unmarshal(m["owned_by"], &owner)
			_ = json.Unmarshal(m["object"], &object)
			if err := json.Unmarshal(m["created"], &created); err != nil || created != 0 {
				t.Errorf("model %d created = %s", i, m["created"])
			}
			if object != "model" || owner != wantOwner[i] {
				t.Errorf("model %d object=%q owned_by=%q, want model %q", i, object, owner, wantOwner[i])
			}
		}
		// Copilot's own fields are kept.
		first := list.Data[0]
		for _, k := range []string{"id", "name", "vendor", "version", "preview", "model_picker_enabled", "policy", "billing", "supported_endpoints", "capabilities"} {
			if _, ok := first[k]; !ok {
				t.Errorf("field %q dropped", k)
			}
		}
		var caps struct {
			Limits struct {
				Max int `json:"max_context_window_tokens"`
			} `json:"limits"`
		}
		_ = json.Unmarshal(first["capabilities"], &caps)
		if caps.Limits.Max != 128000 {
			t.Errorf("capabilities not kept: %s", first["capabilities"])
		}
	}
}

func TestModelRetrieve(t *testing.T) {
	t.Parallel()
	ts := start(t, &modelsUpstream{})
	tests := []struct {
		path   string
		status int
		id     string
	}{
		{"/v1/models/gpt-4o", 200, "gpt-4o"},
		{"/models/claude-sonnet-4.5", 200, "claude-sonnet-4.5"},
		{"/v1/models/org/custom-model", 200, "org/custom-model"},
		{"/v1/models/org%2Fcustom-model", 200, "org/custom-model"},
		{"/v1/models/nope", 404, ""},
		{"/v1/models/", 200, ""}, // the list
	}
	for _, tt := range tests {
		resp, body := do(t, ts, http.MethodGet, tt.path, "", "")
		if tt.status == 404 {
			e := wantEnvelope(t, resp, body, 404, "model_not_found")
			if e.Error.Message != "The model 'nope' does not exist" {
				t.Errorf("message = %q", e.Error.Message)
			}
			continue
		}
		if tt.id == "" {
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"object":"list"`) {
				t.Errorf("%s: %d %s", tt.path, resp.StatusCode, body)
			}
			continue
		}
		var m struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		}
		if resp.StatusCode != tt.status || json.Unmarshal(body, &m) != nil || m.ID != tt.id || m.Object != "model" {
			t.Errorf("%s: %d %s", tt.path, resp.StatusCode, body)
		}
	}
}

func TestModelsCache(t *testing.T) {
	t.Parallel()
	clk := newClock()
	up := &modelsUpstream{}
	ts := start(t, up, withClock(clk), withConfig(gateway.Config{ModelsTTL: time.Minute}))

	get := func(path string) int {
		resp, _ := do(t, ts, http.MethodGet, path, "", "")
		return resp.StatusCode
	}
	for range 5 {
		if s := get("/v1/models"); s != 200 {
			t.Fatalf("status %d", s)
		}
		get("/v1/models/gpt-4o")
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls within the TTL, want 1", n)
	}

	clk.Add(2 * time.Minute)
	get("/v1/models")
	if n := up.calls.Load(); n != 2 {
		t.Errorf("%d upstream calls after the TTL, want 2", n)
	}

	// The upstream fails: the stale list is served.
	err := unavailable(errors.New("GitHub unreachable"))
	up.fail.Store(&err)
	clk.Add(2 * time.Minute)
	if s := get("/v1/models"); s != 200 {
		t.Errorf("stale list not served: status %d", s)
	}
	if s := get("/v1/models/gpt-4o"); s != 200 {
		t.Errorf("stale model not served: status %d", s)
	}
	if n := up.calls.Load(); n != 3 {
		t.Errorf("%d upstream calls, want 3 (no retry right after a failure)", n)
	}
	// Recovery after the retry delay.
	up.fail.Store(nil)
	clk.Add(time.Minute)
	get("/v1/models")
	if n := up.calls.Load(); n != 4 {
		t.Errorf("%d upstream calls, want 4", n)
	}
}

func TestModelsConcurrentMissesShareOneFetch(t *testing.T) {
	t.Parallel()
	up := &modelsUpstream{gate: make(chan struct{})}
	ts := start(t, up)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() {
			resp, _ := do(t, ts, http.MethodGet, "/v1/models", "", "")
			statuses[i] = resp.StatusCode
		})
	}
	// Let the first fetch start, then release it. Whoever arrives after it
	// finished is served from the cache, so the count is exact either way.
	deadline := time.Now().Add(waitLimit)
	for up.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(up.gate)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls for concurrent misses, want 1", n)
	}
}

func TestModelsErrorsWithoutCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fn     upstreamFunc
		status int
		code   string
	}{
		{"unavailable", func(ctx context.Context, call *upCall) (*http.Response, error) {
			return nil, unavailable(errors.New("no Copilot access"))
		}, 503, "copilot_unavailable"},
		{"upstream 500", func(ctx context.Context, call *upCall) (*http.Response, error) {
			return response(500, jsonHeader(), `{"error":{"message":"boom"}}`), nil
		}, 502, "upstream_error"},
		{"upstream 404", func(ctx context.Context, call *upCall) (*http.Response, error) {
			return response(404, nil, `not found`), nil
		}, 502, "upstream_error"},
		{"not a list", func(ctx context.Context, call *upCall) (*http.Response, error) {
			return response(200, jsonHeader(), `<html>`), nil
		}, 502, "upstream_error"},
		{"timeout", func(ctx context.Context, call *upCall) (*http.Response, error) {
			return nil, timeoutError{}
		}, 504, "upstream_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := start(t, tt.fn)
			resp, body := do(t, ts, http.MethodGet, "/v1/models", "", "")
			wantEnvelope(t, resp, body, tt.status, tt.code)
			resp, body = do(t, ts, http.MethodGet, "/v1/models/gpt-4o", "", "")
			wantEnvelope(t, resp, body, tt.status, tt.code)
		})
	}
}

func TestServerModels(t *testing.T) {
	t.Parallel()
	srv := gateway.NewServer(gateway.Deps{Upstream: &modelsUpstream{}})
	models, err := srv.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 4 || models[0].ID != "gpt-4o" || models[0].Type != "chat" || models[2].Type != "embeddings" {
		t.Errorf("models = %+v", models)
	}
}
