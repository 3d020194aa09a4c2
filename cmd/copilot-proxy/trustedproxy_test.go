package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Two clients behind one proxy (this test, on 127.0.0.1), told apart by
// the X-Forwarded-For the proxy adds.
const (
	clientA = "203.0.113.1"
	clientB = "203.0.113.2"
)

// failedAttempt is one failed authentication of a kind: a request with a
// wrong credential, sent as client (an X-Forwarded-For value).
type failedAttempt func(t *testing.T, g *testGateway, client string) int

func wrongKey(t *testing.T, g *testGateway, client string) int {
	r, _ := g.do(t, http.MethodGet, "/v1/models", "", "Authorization", "Bearer cpk_wrong", "X-Forwarded-For", client)
	return r.StatusCode
}

func wrongAdminToken(t *testing.T, g *testGateway, client string) int {
	r, _ := g.do(t, http.MethodGet, "/admin/keys", "", "Authorization", "Bearer wrong-admin-token", "X-Forwarded-For", client)
	return r.StatusCode
}

func wrongConsoleSignIn(t *testing.T, g *testGateway, client string) int {
	r, _ := g.do(t, http.MethodPost, "/console/api/session", `{"token":"wrong-admin-token"}`, "X-Forwarded-For", client)
	return r.StatusCode
}

// exhaust fails as client until it is refused with 429, and checks that
// took exactly the default limit.
func exhaust(t *testing.T, g *testGateway, fail failedAttempt, client string) {
	t.Helper()
	for i := range middleware.DefaultAuthFailLimit {
		if code := fail(t, g, client); code != http.StatusUnauthorized {
			t.Fatalf("%s: failed attempt %d got %d, want 401", client, i+1, code)
		}
	}
	if code := fail(t, g, client); code != http.StatusTooManyRequests {
		t.Fatalf("%s: attempt past the limit got %d, want 429", client, code)
	}
}

// TestTrustedProxyThrottlesClientsApart runs the real gateway with client
// keys and an admin token. Trusting the test's loopback address as a proxy,
// a client reaching its failed-authentication limit (client keys; the admin
// token, shared with the console's sign-in) leaves another client behind
// the same proxy unaffected, and the access log names each client. With no
// trusted proxy, the two share the proxy's one count, as before.
func TestTrustedProxyThrottlesClientsApart(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	for _, tt := range []struct {
		name    string
		trusted string
		// bLimited: client B is refused (429) once A is over the limit.
		bLimited bool
		remote   string // the access log's remote for client A
	}{
		{"loopback trusted", "127.0.0.1", false, clientA},
		{"nothing trusted", "", true, "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, _ := startTeamGateway(t, fake, map[string]string{
				"COPILOT_PROXY_TRUSTED_PROXY": tt.trusted, "COPILOT_PROXY_ADMIN_TOKEN": "the-admin-token-0123456789",
			})
			for _, kind := range []struct {
				name string
				fail failedAttempt
				// exhaust: A reaches this gate's limit here; false: A is
				// over it already (the console counts on the admin
				// token's gate).
				exhaust bool
			}{
				{"client keys", wrongKey, true},
				{"admin token", wrongAdminToken, true},
				{"console sign-in", wrongConsoleSignIn, false},
			} {
				if kind.exhaust {
					exhaust(t, g, kind.fail, clientA)
				} else if code := kind.fail(t, g, clientA); code != http.StatusTooManyRequests {
					t.Fatalf("%s: client A got %d, want 429", kind.name, code)
				}
				want := http.StatusUnauthorized
				if tt.bLimited {
					want = http.StatusTooManyRequests
				}
				if code := kind.fail(t, g, clientB); code != want {
					t.Errorf("%s: client B's first failure got %d after A hit its limit, want %d", kind.name, code, want)
				}
			}
			checkAccessLogRemote(t, g, tt.remote, tt.trusted != "")
		})
	}
}

// checkAccessLogRemote finds client A's first access line (GET /v1/models)
// and checks its remote, and that peer names the proxy when one is trusted.
func checkAccessLogRemote(t *testing.T, g *testGateway, remote string, wantPeer bool) {
	t.Helper()
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["route"] != "/v1/models" {
			continue
		}
		peer, hasPeer := l["peer"]
		if l["remote"] != remote || hasPeer != wantPeer || wantPeer && peer != "127.0.0.1" {
			t.Errorf("access line %s: want remote %s and peer 127.0.0.1 (logged: %v)", line, remote, wantPeer)
		}
		return
	}
	t.Errorf("no access line for /v1/models in:\n%s", g.Logs.String())
}

// TestTrustedProxyLocalOnly: with --no-auth, a request a trusted loopback
// proxy forwards for another machine is refused (403 forbidden), while the
// local user's own requests, direct or through the proxy, are served.
// Without a trusted proxy, X-Forwarded-For is not read (as before).
func TestTrustedProxyLocalOnly(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	for _, tt := range []struct {
		trusted, xff string
		want         int
	}{
		{"127.0.0.1", "", http.StatusOK},
		{"127.0.0.1", "127.0.0.1", http.StatusOK},
		{"127.0.0.1", "::1", http.StatusOK},
		{"127.0.0.1", clientA, http.StatusForbidden},
		{"127.0.0.1", "2001:db8::5, 127.0.0.1", http.StatusForbidden},
		{"", clientA, http.StatusOK},
	} {
		t.Run(tt.trusted+" "+tt.xff, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_TRUSTED_PROXY": tt.trusted})
			hdr := []string{}
			if tt.xff != "" {
				hdr = append(hdr, "X-Forwarded-For", tt.xff)
			}
			r, b := g.do(t, http.MethodGet, "/v1/models", "", hdr...)
			if r.StatusCode != tt.want {
				t.Fatalf("X-Forwarded-For %q: %d %.200s, want %d", tt.xff, r.StatusCode, b, tt.want)
			}
			if tt.want == http.StatusForbidden && !strings.Contains(string(b), "not this machine") {
				t.Errorf("refusal %s does not say why", b)
			}
		})
	}
}
