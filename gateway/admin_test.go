package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

const adminToken = "admin-token-0123456789abcdef"

func openStore(t *testing.T) *keys.Store {
	t.Helper()
	st, err := keys.Open(context.Background(), t.TempDir()+"/keys.db", keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func adminCall(t *testing.T, url, method, path, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no x-request-id", method, path)
	}
	return resp.StatusCode, b
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(200, jsonHeader(), `{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`), nil
	})
	ts := start(t, up, func(d *gateway.Deps) { d.Keys = st; d.AdminToken = adminToken })

	// Create.
	status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"alice","rpm":5,"models":["gpt-4o"],"expires":"30d"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var created struct {
		ID, Name, Key, Hint string
		RPM                 *int     `json:"rpm"`
		Models              []string `json:"models"`
		ExpiresAt           *string  `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &created); err != nil || !strings.HasPrefix(created.Key, "cpk_") || created.RPM == nil || *created.RPM != 5 || created.ExpiresAt == nil {
		t.Fatalf("create body %s (%v)", body, err)
	}

	// The key works on the OpenAI routes, and its usage shows in /admin/usage.
	req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Authorization", "Bearer "+created.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat with the new key: %d", resp.StatusCode)
	}

	status, body = adminCall(t, ts.URL, "GET", "/admin/keys", adminToken, "")
	if status != 200 || strings.Contains(string(body), created.Key) || !strings.Contains(string(body), `"requests":1`) {
		t.Fatalf("list: %d %s", status, body)
	}
	status, body = adminCall(t, ts.URL, "GET", "/admin/usage?key=alice&since=7d", adminToken, "")
	if status != 200 || !strings.Contains(string(body), `"prompt_tokens":3`) || !strings.Contains(string(body), `"key_name":"alice"`) {
		t.Fatalf("usage: %d %s", status, body)
	}

	// Rotate with no grace, then revoke.
	status, body = adminCall(t, ts.URL, "POST", "/admin/keys/"+created.ID+"/rotate", adminToken, `{"grace":"0s"}`)
	var rotated struct{ ID, Key string }
	if status != 200 || json.Unmarshal(body, &rotated) != nil || rotated.ID != created.ID || rotated.Key == created.Key {
		t.Fatalf("rotate: %d %s", status, body)
	}
	if _, ok := st.Authenticate(created.Key); ok {
		t.Fatal("rotated-out secret still valid")
	}
	status, body = adminCall(t, ts.URL, "POST", "/admin/keys/alice/revoke", adminToken, "")
	if status != 200 || !strings.Contains(string(body), `"revoked_at":"`) {
		t.Fatalf("revoke: %d %s", status, body)
	}

	// Errors, each in the envelope with an honest status.
	for _, tt := range []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"GET", "/admin/keys", "", "", 401, "invalid_api_key"},
		{"GET", "/admin/keys", "wrong-token-wrong-token", "", 401, "invalid_api_key"},
		{"GET", "/admin/keys", rotated.Key, "", 401, "invalid_api_key"}, // a client key is not an admin token
		{"POST", "/admin/keys", adminToken, `{"name":"alice"}`, 409, "conflict"},
		{"POST", "/admin/keys", adminToken, `{"name":"bob","rmp":5}`, 400, "invalid_json"},
		{"POST", "/admin/keys", adminToken, `{"name":"bob","expires":"someday"}`, 400, "invalid_request_error"},
		{"POST", "/admin/keys", adminToken, `{"name":"bad name!"}`, 400, "invalid_request_error"},
		{"POST", "/admin/keys", adminToken, ``, 400, "invalid_json"},
		{"POST", "/admin/keys/nobody/revoke", adminToken, "", 404, "not_found"},
		{"POST", "/admin/keys/alice/rotate", adminToken, `{"grace":"soon"}`, 400, "invalid_request_error"},
		{"GET", "/admin/usage?key=nobody", adminToken, "", 404, "not_found"},
		{"GET", "/admin/usage?since=lately", adminToken, "", 400, "invalid_request_error"},
	} {
		status, body := adminCall(t, ts.URL, tt.method, tt.path, tt.token, tt.body)
		var env struct{ Error struct{ Code string } }
		if status != tt.status || json.Unmarshal(body, &env) != nil || env.Error.Code != tt.code {
			t.Errorf("%s %s (%s): %d %s; want %d %s", tt.method, tt.path, tt.body, status, body, tt.status, tt.code)
		}
	}
}

func TestAdminAPIOffWithoutToken(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, upstreamFunc(nil), func(d *gateway.Deps) { d.Keys = st })
	if status, _ := adminCall(t, ts.URL, "GET", "/admin/keys", "anything-at-all-here", ""); status != 404 {
		t.Fatalf("admin API without a configured token: %d, want 404", status)
	}
}

// TestAdminStrictBody: what encoding/json would let through silently is a
// 400 naming the field.
func TestAdminStrictBody(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, upstreamFunc(nil), func(d *gateway.Deps) { d.Keys = st; d.AdminToken = adminToken })
	if status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"alice"}`); status != 201 {
		t.Fatalf("create alice: %d %s", status, body)
	}
	for _, tt := range []struct {
		name, path, body string
		code, mention    string
	}{
		{"trailing garbage", "/admin/keys", `{"name":"bob"} x`, "invalid_json", "after the JSON object"},
		{"second object", "/admin/keys", `{"name":"bob"}{"name":"eve"}`, "invalid_json", "after the JSON object"},
		{"case variant", "/admin/keys", `{"name":"bob","RPM":5}`, "invalid_json", `"RPM"`},
		{"case variant name", "/admin/keys", `{"Name":"bob"}`, "invalid_json", `"Name"`},
		{"duplicate", "/admin/keys", `{"name":"bob","rpm":5,"rpm":null}`, "invalid_json", `"rpm"`},
		{"unknown", "/admin/keys", `{"name":"bob","rmp":5}`, "invalid_json", `"rmp"`},
		{"not an object", "/admin/keys", `["bob"]`, "invalid_json", "JSON object"},
		{"expires and expires_at", "/admin/keys", `{"name":"bob","expires":"30d","expires_at":"2030-01-01T00:00:00Z"}`, "invalid_request_error", "expires_at"},
		{"rotate trailing", "/admin/keys/alice/rotate", `{"grace":"0s"},`, "invalid_json", "after the JSON object"},
		{"rotate case variant", "/admin/keys/alice/rotate", `{"Grace":"0s"}`, "invalid_json", `"Grace"`},
		{"rotate duplicate", "/admin/keys/alice/rotate", `{"grace":"0s","grace":"1h"}`, "invalid_json", `"grace"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := adminCall(t, ts.URL, "POST", tt.path, adminToken, tt.body)
			var env struct {
				Error struct{ Code, Message string }
			}
			if status != 400 || json.Unmarshal(body, &env) != nil || env.Error.Code != tt.code ||
				!strings.Contains(env.Error.Message, tt.mention) {
				t.Errorf("%s: %d %s; want 400 %s mentioning %s", tt.body, status, body, tt.code, tt.mention)
			}
		})
	}
	// None of the refused bodies created or rotated anything.
	list, err := st.List(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("keys after refused bodies: %d (%v), want 1", len(list), err)
	}
	// A well-formed body with both spellings right still works.
	if status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"bob","rpm":5,"expires_at":"2030-01-01T00:00:00Z"}`); status != 201 {
		t.Fatalf("create bob: %d %s", status, body)
	}
}

// TestAdminTokenFailuresThrottled: failed admin tokens from one address get
// 429 with Retry-After after the per-address limit; the right token from that
// address still works, since only failures count.
func TestAdminTokenFailuresThrottled(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, upstreamFunc(nil), func(d *gateway.Deps) { d.Keys = st; d.AdminToken = adminToken })
	for i := range middleware.DefaultAuthFailLimit {
		if status, body := adminCall(t, ts.URL, "GET", "/admin/keys", "wrong-token", ""); status != 401 {
			t.Fatalf("failure %d: %d %s, want 401", i+1, status, body)
		}
	}
	for _, tt := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"over the limit", "wrong-token", 429, "rate_limit_exceeded"},
		{"no token over the limit", "", 429, "rate_limit_exceeded"},
		{"valid token", adminToken, 200, ""},
		{"valid token again", adminToken, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/admin/keys", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var env struct{ Error struct{ Code string } }
			_ = json.Unmarshal(body, &env)
			if resp.StatusCode != tt.status || env.Error.Code != tt.code {
				t.Fatalf("%d %s; want %d %q", resp.StatusCode, body, tt.status, tt.code)
			}
			if ra := resp.Header.Get("Retry-After"); (tt.status == 429) != (ra != "") {
				t.Errorf("Retry-After %q with status %d", ra, resp.StatusCode)
			}
		})
	}
}
