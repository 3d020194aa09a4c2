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
