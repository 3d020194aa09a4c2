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

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/gateway"
)

var noUpstream = upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
	return nil, errors.New("not used")
})

func tokenCond(ok bool, reason string) func() []gateway.Condition {
	return func() []gateway.Condition {
		return []gateway.Condition{{Name: gateway.CondCopilotToken, OK: ok, Reason: reason}}
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	ts := start(t, noUpstream, func(d *gateway.Deps) { d.Ready = tokenCond(false, "no token") })
	resp, body := do(t, ts, http.MethodGet, "/healthz", "", "")
	if resp.StatusCode != 200 || string(body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("healthz = %d %s", resp.StatusCode, body)
	}
}

type readyBody struct {
	Status     string              `json:"status"`
	Reason     string              `json:"reason"`
	Conditions []gateway.Condition `json:"conditions"`
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		ready      func() []gateway.Condition
		drain      bool
		wantStatus int
		wantReason string
		wantConds  []gateway.Condition
	}{
		{"no ready func", nil, false, 200, "",
			[]gateway.Condition{{Name: "shutting_down", OK: true}}},
		{"ready", func() []gateway.Condition {
			return []gateway.Condition{{Name: "copilot_token", OK: true, ExpiresAt: expires}}
		}, false, 200, "",
			[]gateway.Condition{{Name: "copilot_token", OK: true, ExpiresAt: expires}, {Name: "shutting_down", OK: true}}},
		{"no token", tokenCond(false, "GitHub token rejected (401)"), false, 503, "GitHub token rejected (401)",
			[]gateway.Condition{{Name: "copilot_token", Reason: "GitHub token rejected (401)"}, {Name: "shutting_down", OK: true}}},
		{"secret in reason is redacted", tokenCond(false, "bad token ghu_abcdefghijklmnop1234"), false, 503, "bad token [redacted]",
			[]gateway.Condition{{Name: "copilot_token", Reason: "bad token [redacted]"}, {Name: "shutting_down", OK: true}}},
		{"failing without a reason", tokenCond(false, ""), false, 503, "not ready",
			[]gateway.Condition{{Name: "copilot_token", Reason: "not ready"}, {Name: "shutting_down", OK: true}}},
		{"draining", tokenCond(true, ""), true, 503, "shutting down",
			[]gateway.Condition{{Name: "copilot_token", OK: true}, {Name: "shutting_down", Reason: "shutting down"}}},
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
			var got readyBody
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			wantStatus := map[int]string{200: "ready", 503: "unavailable"}[tt.wantStatus]
			if resp.StatusCode != tt.wantStatus || got.Status != wantStatus || got.Reason != tt.wantReason {
				t.Fatalf("readyz = %d %s", resp.StatusCode, body)
			}
			if len(got.Conditions) != len(tt.wantConds) {
				t.Fatalf("conditions = %s", body)
			}
			for i, c := range tt.wantConds {
				g := got.Conditions[i]
				if g.Name != c.Name || g.OK != c.OK || g.Reason != c.Reason || !g.ExpiresAt.Equal(c.ExpiresAt) {
					t.Errorf("condition %d = %+v, want %+v", i, g, c)
				}
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Error("readyz must not be cached")
			}
		})
	}
}

// TestReadyzKeyStore: the key store condition follows a probe query, cached
// for a second so frequent probes cost one query.
func TestReadyzKeyStore(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	clk := newClock()
	ts := start(t, noUpstream, withClock(clk), func(d *gateway.Deps) { d.Keys = st; d.NoAuth = true })
	get := func() (int, readyBody) {
		resp, body := do(t, ts, http.MethodGet, "/readyz", "", "")
		var got readyBody
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, got
	}
	status, got := get()
	if status != 200 || len(got.Conditions) != 2 || got.Conditions[0].Name != gateway.CondKeyStore || !got.Conditions[0].OK {
		t.Fatalf("readyz with a working store = %d %+v", status, got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(); status != 200 {
		t.Errorf("within a second the cached probe answers: %d", status)
	}
	clk.Add(1500 * time.Millisecond)
	status, got = get()
	if status != 503 || got.Conditions[0].OK || !strings.HasPrefix(got.Reason, "key store unreachable") {
		t.Fatalf("readyz with a closed store = %d %+v", status, got)
	}
	if strings.Contains(got.Reason, "keys.db") {
		t.Errorf("the reason names the database path: %q", got.Reason)
	}
}

func TestTokenCondition(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 12, 5, 12, 30, 0, 0, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		st   copilot.TokenStatus
		want gateway.Condition
	}{
		{"held", copilot.TokenStatus{Valid: true, ExpiresAt: exp},
			gateway.Condition{Name: gateway.CondCopilotToken, OK: true, ExpiresAt: exp.UTC()}},
		{"failed", copilot.TokenStatus{LastError: errors.New("GitHub answered 401")},
			gateway.Condition{Name: gateway.CondCopilotToken, Reason: "no valid Copilot token: GitHub answered 401"}},
		{"starting", copilot.TokenStatus{},
			gateway.Condition{Name: gateway.CondCopilotToken, Reason: "no valid Copilot token yet: the first token exchange is in progress"}},
	}
	for _, tt := range tests {
		if got := gateway.TokenCondition(tt.st); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestProbeHidesTheError: a failing Probe (Redis) says only "redis
// unreachable" on the public /readyz, since the ping's error names the
// internal host:port; the error is logged once per failing streak.
func TestProbeHidesTheError(t *testing.T) {
	t.Parallel()
	var logs lockedLog
	clk := newClock()
	fail := errors.New("dial tcp 10.1.2.3:6379: connect: connection refused")
	var pingErr atomic.Pointer[error]
	pingErr.Store(&fail)
	p := &gateway.Probe{Name: gateway.CondRedis, Now: clk.Now, Logger: zerolog.New(&logs),
		Ping: func(context.Context) error { return *pingErr.Load() }}
	ts := start(t, noUpstream, func(d *gateway.Deps) {
		d.Ready = func() []gateway.Condition { return []gateway.Condition{p.Condition()} }
	})
	get := func() (int, string) {
		clk.Add(1500 * time.Millisecond) // past the probe's cache
		resp, body := do(t, ts, http.MethodGet, "/readyz", "", "")
		return resp.StatusCode, string(body)
	}
	for range 2 {
		status, body := get()
		if status != 503 || !strings.Contains(body, `"reason":"redis unreachable"`) || strings.Contains(body, "10.1.2.3") {
			t.Fatalf("readyz with Redis down = %d %s", status, body)
		}
	}
	var ok error
	pingErr.Store(&ok)
	if status, body := get(); status != 200 {
		t.Fatalf("readyz with Redis back = %d %s", status, body)
	}
	pingErr.Store(&fail)
	get()
	if n := strings.Count(logs.String(), "10.1.2.3:6379"); n != 2 {
		t.Errorf("the error is logged %d times over two failing streaks, want 2:\n%s", n, logs.String())
	}
}

// lockedLog is a log sink written by the server's goroutines and read by
// the test.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
