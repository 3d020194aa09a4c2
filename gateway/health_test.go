package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/gateway"
)

var noUpstream = gateway.UpstreamFunc(func(ctx context.Context, call *gateway.Call) (*http.Response, error) {
	return nil, errors.New("not used")
})

func TestHealthz(t *testing.T) {
	t.Parallel()
	ts := start(t, noUpstream, func(d *gateway.Deps) { d.Ready = func() error { return errors.New("no token") } })
	resp, body := do(t, ts, http.MethodGet, "/healthz", "", "")
	if resp.StatusCode != 200 || string(body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("healthz = %d %s", resp.StatusCode, body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ready      func() error
		drain      bool
		wantStatus int
		wantBody   map[string]string
	}{
		{"no ready func", nil, false, 200, map[string]string{"status": "ready"}},
		{"ready", func() error { return nil }, false, 200, map[string]string{"status": "ready"}},
		{"no token", func() error { return errors.New("GitHub token rejected (401)") }, false, 503,
			map[string]string{"status": "unavailable", "reason": "GitHub token rejected (401)"}},
		{"secret in reason is redacted", func() error { return errors.New("bad token ghu_abcdefghijklmnop1234") }, false, 503,
			map[string]string{"status": "unavailable", "reason": "bad token [redacted]"}},
		{"draining", func() error { return nil }, true, 503, map[string]string{"status": "unavailable", "reason": "shutting down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := gateway.NewServer(gateway.Deps{Upstream: noUpstream, Ready: tt.ready})
			if tt.drain {
				srv.SetDraining()
			}
			ts := serve(t, srv)
			resp, body := do(t, ts, http.MethodGet, "/readyz", "", "")
			var got map[string]string
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || len(got) != len(tt.wantBody) {
				t.Fatalf("readyz = %d %s", resp.StatusCode, body)
			}
			for k, v := range tt.wantBody {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
