package main

// Security checks of the fault matrix: no secret in any log line, response
// body or header; the allow-list of upstream hosts; file modes.

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// recordingTransport keeps every response (headers and body) a client got.
type recordingTransport struct {
	mu   sync.Mutex
	seen []string // header dump + body of each response
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sb strings.Builder
	_ = resp.Header.Write(&sb)
	sb.Write(b)
	rt.mu.Lock()
	rt.seen = append(rt.seen, r.Method+" "+r.URL.Path+"\n"+sb.String())
	rt.mu.Unlock()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp, err
}

// TestSecurityNoSecretLeaks runs a full scenario (start, exchange, refresh,
// chat, stream, errors, key create/revoke over the CLI and the admin API,
// shutdown) and checks that the GitHub token, every Copilot token, every
// client key and the admin token appear in no log line and in no response
// body or header, except the one response that hands a new key out.
func TestSecurityNoSecretLeaks(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t, copilottest.WithTokenLifetime(3*time.Second, 2*time.Second))
	const adminToken = "admin-token-0123456789abcdef-secret"
	g, db := startTeamGateway(t, fake, map[string]string{
		"COPILOT_PROXY_ADMIN_TOKEN": adminToken,
		"COPILOT_PROXY_LOG_LEVEL":   "debug", // the most talkative level
		"COPILOT_PROXY_GLOBAL_RPM":  "0",
	})
	rec := &recordingTransport{}
	g.client = &http.Client{Transport: rec}
	alice := createKey(t, db, "--name", "alice", "--rpm", "0")
	waitFor(t, 5*time.Second, "key loaded", func() bool {
		r, _ := g.do(t, http.MethodGet, "/v1/models", "", "Authorization", "Bearer "+alice.Key)
		return r.StatusCode == 200
	})
	var keysSeen []string
	keysSeen = append(keysSeen, alice.Key)
	as := []string{"Authorization", "Bearer " + alice.Key}

	// Chat and stream, across at least one refresh.
	for i := range 6 {
		if r, b := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody, as...); r.StatusCode != 200 {
			t.Fatalf("chat: %d %s", r.StatusCode, b)
		}
		if r, b := g.do(t, http.MethodPost, "/v1/chat/completions", streamBody, as...); r.StatusCode != 200 || !strings.Contains(string(b), "[DONE]") {
			t.Fatalf("stream: %d %s", r.StatusCode, b)
		}
		if i == 2 {
			time.Sleep(1500 * time.Millisecond) // a refresh happens
		}
	}
	// Errors: revoked token (re-exchange), upstream 500 echoing a token-like
	// string, bad key, bad admin token, upstream dropping a stream.
	fake.RevokeTokens()
	g.do(t, http.MethodPost, "/v1/chat/completions", chatBody, as...)
	issued := fake.IssuedTokens()
	fake.SetChatFault(copilottest.Fault{Status: 500, Count: 1,
		Body: `{"error":{"message":"bad token ` + issued[len(issued)-1] + ` for ` + copilottest.GitHubToken + `"}}`})
	g.do(t, http.MethodPost, "/v1/chat/completions", chatBody, as...)
	fake.SetChatFault(copilottest.Fault{DropAfter: 2, Count: 1})
	g.do(t, http.MethodPost, "/v1/chat/completions", streamBody, as...)
	g.do(t, http.MethodPost, "/v1/chat/completions", chatBody, "Authorization", "Bearer "+alice.Key+"x")
	g.do(t, http.MethodPost, "/v1/chat/completions", chatBody, "x-api-key", "cpk_"+strings.Repeat("Z", 43))
	g.do(t, http.MethodGet, "/admin/keys", "", "Authorization", "Bearer "+adminToken+"x")

	// Keys over the admin API: create (the one response allowed to hold a
	// key), list, rotate, revoke, usage.
	adm := []string{"Authorization", "Bearer " + adminToken}
	r, b := g.do(t, http.MethodPost, "/admin/keys", `{"name":"bob"}`, adm...)
	var created struct{ ID, Key string }
	if err := json.Unmarshal(b, &created); err != nil || r.StatusCode != 201 || created.Key == "" {
		t.Fatalf("admin create: %d %s", r.StatusCode, b)
	}
	keysSeen = append(keysSeen, created.Key)
	handedOut := len(rec.seen) - 1
	g.do(t, http.MethodGet, "/admin/keys", "", adm...)
	r, b = g.do(t, http.MethodPost, "/admin/keys/bob/rotate", `{}`, adm...)
	var rotated struct{ Key string }
	if err := json.Unmarshal(b, &rotated); err != nil || rotated.Key == "" {
		t.Fatalf("admin rotate: %d %s", r.StatusCode, b)
	}
	keysSeen = append(keysSeen, rotated.Key)
	rotatedAt := len(rec.seen) - 1
	g.do(t, http.MethodPost, "/admin/keys/bob/revoke", "", adm...)
	g.do(t, http.MethodGet, "/admin/usage?since=1d", "", adm...)
	mustCLI(t, db, "keys", "revoke", "alice")
	waitFor(t, 5*time.Second, "alice is refused", func() bool {
		r, _ := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody, as...)
		return r.StatusCode == 401
	})
	g.do(t, http.MethodGet, "/readyz", "")
	g.do(t, http.MethodGet, "/healthz", "")
	g.stop(t)

	secrets := map[string]string{copilottest.GitHubToken: "the GitHub token", adminToken: "the admin token"}
	for _, tok := range fake.IssuedTokens() {
		secrets[tok] = "a Copilot token"
		// The token's MAC part alone is a secret too.
		if i := strings.LastIndexByte(tok, ':'); i > 0 {
			secrets[tok[i+1:]] = "a Copilot token's signature"
		}
	}
	if len(fake.IssuedTokens()) < 3 {
		t.Fatalf("the scenario issued %d Copilot tokens; want refreshes", len(fake.IssuedTokens()))
	}
	for _, k := range keysSeen {
		secrets[k] = "a client key"
		secrets[strings.TrimPrefix(k, "cpk_")] = "a client key's body"
	}
	logs := g.Logs.String()
	for s, what := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("%s appears in the logs", what)
		}
		for i, resp := range rec.seen {
			if (i == handedOut && strings.Contains(created.Key, s)) || (i == rotatedAt && strings.Contains(rotated.Key, s)) {
				continue // the response that hands this key out
			}
			if strings.Contains(resp, s) {
				t.Errorf("%s appears in a response to a client:\n%.300s", what, resp)
			}
		}
	}
	// Scenario sanity: everything above actually happened.
	for _, want := range []string{"copilot token refreshed", "copilot upstream answered 401", "upstream stream ended with an error", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the scenario lacks %q in its logs", want)
		}
	}
	if len(rec.seen) < 25 {
		t.Fatalf("only %d responses recorded", len(rec.seen))
	}
}

// TestSecurityUpstreamHostAllowList: a token whose endpoints.api is off the
// allow-list is refused with a clear error, and nothing is sent there.
func TestSecurityUpstreamHostAllowList(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t, copilottest.WithEndpointsAPI("https://evil.example.com"))
	// No --copilot-api-url: the token's endpoints.api decides.
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_COPILOT_API_URL": ""})
	for _, path := range []string{"/v1/chat/completions", "/v1/models"} {
		method, body := http.MethodPost, chatBody
		if path == "/v1/models" {
			method, body = http.MethodGet, ""
		}
		resp, b := g.do(t, method, path, body)
		msg := wantError(t, resp, b, 503, "copilot_unavailable")
		if !strings.Contains(msg, "evil.example.com") || !strings.Contains(msg, "allow-list") {
			t.Fatalf("%s: message %q does not name the refused host", path, msg)
		}
		for _, tok := range fake.IssuedTokens() {
			if strings.Contains(string(b), tok) {
				t.Fatal("the token is in the error")
			}
		}
	}
	g.wantLog(t, "warn", "request failed", "evil.example.com")
	// The fake is the GitHub API here; no Copilot API call may have been made
	// anywhere (the refused host is not reachable from the test anyway).
	for _, r := range fake.Requests() {
		if !strings.HasPrefix(r.Path, "/copilot_internal/") {
			t.Fatalf("a request went to %s", r.Path)
		}
	}
}

// TestSecurityFileModes: the database serve creates (with SQLite's WAL and
// shared-memory files) and its folder are readable only by the owner. The
// token file of login is checked in TestLoginSuccess.
func TestSecurityFileModes(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t)
	dir := filepath.Join(t.TempDir(), "fresh", "data")
	db := filepath.Join(dir, "copilot-proxy.db")
	g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_DB": db, "COPILOT_PROXY_NO_AUTH": ""})
	mustCLI(t, db, "keys", "create", "--name", "m")
	waitFor(t, 5*time.Second, "the WAL exists", func() bool { _, err := os.Stat(db + "-wal"); return err == nil })
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if _, err := os.Stat(p); err != nil {
			continue // SQLite may not have created it
		}
		assertMode(t, p, 0o600)
	}
	assertMode(t, dir, 0o700)
	g.stop(t)
	assertMode(t, db, 0o600)
}

// TestSecurityUpstreamRedirectNotFollowed: a Copilot API that answers with a
// redirect (to the same host on another port, or to another host) gets a
// 502 that says so; the redirect's target never sees a request, so neither
// the Copilot token nor the prompt goes anywhere nobody configured.
func TestSecurityUpstreamRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"127.0.0.1", "localhost"} { // same host other port; another host name
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
			}))
			defer elsewhere.Close()
			_, port, _ := net.SplitHostPort(elsewhere.Listener.Addr().String())
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://"+target+":"+port+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			defer redirector.Close()
			fake := copilottest.New(t)
			g := startGateway(t, fake, map[string]string{"COPILOT_PROXY_COPILOT_API_URL": redirector.URL})
			resp, body := g.do(t, http.MethodPost, "/v1/chat/completions", chatBody)
			msg := wantError(t, resp, body, http.StatusBadGateway, "upstream_error")
			if !strings.Contains(msg, "redirect") || strings.Contains(msg, port) {
				t.Errorf("message %q does not say a redirect was refused, or names its target", msg)
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("the redirect target got %d requests", n)
			}
		})
	}
}
