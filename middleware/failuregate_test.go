package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// gateReq is a request from addr with an Entry, as the router gives one.
func gateReq(addr string) *http.Request {
	r := newRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = addr
	return r
}

// TestFailureGateFail: the decision alone. Each address may fail limit
// times per window; the next failure is limited (and not counted), with the
// window rounded up to seconds as the wait and ReasonAuthFailures on the
// Entry. A negative limit never limits.
func TestFailureGateFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		limit    int
		window   time.Duration
		clientIP func(*http.Request) string
		addrs    []string // one failure each, in order
		limited  []bool
		wait     time.Duration
	}{
		{name: "limit per address", limit: 2, window: time.Hour,
			addrs:   []string{"192.0.2.1:1", "192.0.2.1:2", "192.0.2.2:1", "192.0.2.1:3", "192.0.2.2:2", "192.0.2.1:4"},
			limited: []bool{false, false, false, true, false, true}, wait: time.Hour},
		{name: "window rounded up", limit: 1, window: 1500 * time.Millisecond,
			addrs: []string{"192.0.2.1:1", "192.0.2.1:1"}, limited: []bool{false, true}, wait: 2 * time.Second},
		{name: "IPv6 forms are one address", limit: 1, window: time.Hour,
			addrs: []string{"[2001:db8::1]:1", "[2001:0db8:0::1]:2"}, limited: []bool{false, true}, wait: time.Hour},
		{name: "off", limit: -1, window: time.Hour,
			addrs: []string{"192.0.2.1:1", "192.0.2.1:1", "192.0.2.1:1"}, limited: []bool{false, false, false}},
		{name: "counted by clientIP", limit: 1, window: time.Hour,
			clientIP: func(r *http.Request) string { return r.Header.Get("X-Client") },
			addrs:    []string{"192.0.2.1:1", "192.0.2.2:1"}, limited: []bool{false, true}, wait: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewFailureGate(tc.limit, tc.window, tc.clientIP)
			for i, addr := range tc.addrs {
				r := gateReq(addr)
				r.Header.Set("X-Client", "one client")
				limited, wait := g.Fail(r)
				reason := EntryFrom(r.Context()).LimitReason()
				if limited != tc.limited[i] || (limited && (wait != tc.wait || reason != ReasonAuthFailures)) || (!limited && reason != "") {
					t.Errorf("failure %d from %s: limited %v wait %v reason %q; want limited %v wait %v",
						i+1, addr, limited, wait, reason, tc.limited[i], tc.wait)
				}
			}
		})
	}
}

// TestFailureGateRefuse: the answer. Under the limit it is the caller's
// error with its challenge; over it, 429 rate_limit_exceeded naming what
// failed, with Retry-After and retry-after-ms and without the challenge.
// Both say x-should-retry: false.
func TestFailureGateRefuse(t *testing.T) {
	t.Parallel()
	g := NewFailureGate(1, time.Minute, nil)
	for i, want := range []struct {
		status                  int
		code, retryAfter, retMs string
		challenge               string
	}{
		{http.StatusUnauthorized, "invalid_api_key", "", "", `Bearer realm="x"`},
		{http.StatusTooManyRequests, "rate_limit_exceeded", "60", "60000", ""},
	} {
		w, r := httptest.NewRecorder(), gateReq("198.51.100.7:9")
		w.Header().Set("WWW-Authenticate", `Bearer realm="x"`)
		limited := g.Refuse(w, r, api.NewError(api.CodeInvalidAPIKey, "Wrong token."), "admin token")
		h := w.Header()
		var env struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(w.Body.Bytes(), &env)
		if w.Code != want.status || limited != (want.status == http.StatusTooManyRequests) || env.Error.Code != want.code ||
			h.Get("Retry-After") != want.retryAfter || h.Get("Retry-After-Ms") != want.retMs ||
			h.Get("WWW-Authenticate") != want.challenge || h.Get("X-Should-Retry") != "false" {
			t.Errorf("attempt %d: %d limited=%v %v %s", i+1, w.Code, limited, h, w.Body)
		}
		if limited && !strings.Contains(env.Error.Message, "Too many failed admin token attempts from this address. Retry after 60s.") {
			t.Errorf("429 message %q", env.Error.Message)
		}
	}
}
