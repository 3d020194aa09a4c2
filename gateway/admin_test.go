package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

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
	list, err := st.List(context.Background(), time.Time{})
	if err != nil || len(list) != 1 {
		t.Fatalf("keys after refused bodies: %d (%v), want 1", len(list), err)
	}
	// A well-formed body with both spellings right still works.
	if status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"bob","rpm":5,"expires_at":"2030-01-01T00:00:00Z"}`); status != 201 {
		t.Fatalf("create bob: %d %s", status, body)
	}
}

// TestAdminAccount: GET /admin/account answers the readiness conditions
// and the quota as JSON, with its length and not cached.
func TestAdminAccount(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, upstreamFunc(nil), func(d *gateway.Deps) { d.Keys = st; d.AdminToken = adminToken })
	req, _ := http.NewRequest("GET", ts.URL+"/admin/account", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var acct struct {
		Ready      *bool             `json:"ready"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(body, &acct); err != nil || resp.StatusCode != http.StatusOK || acct.Ready == nil || len(acct.Conditions) == 0 {
		t.Fatalf("%d %s (%v)", resp.StatusCode, body, err)
	}
	h := resp.Header
	if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("headers %v", h)
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

// adminKey is a key as the admin API answers it, the fields PATCH changes.
type adminKey struct {
	ID           string     `json:"id"`
	RPM          *int       `json:"rpm"`
	TPM          *int       `json:"tpm"`
	Concurrency  *int       `json:"concurrency"`
	Models       []string   `json:"models"`
	Budget       *float64   `json:"budget_credits"`
	BudgetPeriod string     `json:"budget_period"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

func decodeKey(t *testing.T, body []byte) (adminKey, map[string]json.RawMessage) {
	t.Helper()
	var k adminKey
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return k, raw
}

// storedKey is the store's one key as the admin API would answer it.
func storedKey(t *testing.T, st *keys.Store) adminKey {
	t.Helper()
	list, err := st.List(context.Background(), time.Time{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %d keys (%v), want 1", len(list), err)
	}
	b, err := json.Marshal(list[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := decodeKey(t, b)
	return k
}

// wantAdminError checks a 400/404 in the envelope, with its code and param
// ("" for none expected).
func wantAdminError(t *testing.T, what string, status int, body []byte, wantStatus int, code, param string) {
	t.Helper()
	var env struct {
		Error struct {
			Code  string  `json:"code"`
			Param *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || status != wantStatus || env.Error.Code != code {
		t.Errorf("%s: %d %s; want %d %s", what, status, body, wantStatus, code)
		return
	}
	if param != "" && (env.Error.Param == nil || *env.Error.Param != param) {
		t.Errorf("%s: param %v, want %q (%s)", what, env.Error.Param, param, body)
	}
}

func TestAdminCreateWithBudget(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, upstreamFunc(nil), func(d *gateway.Deps) { d.Keys = st; d.AdminToken = adminToken })

	status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"weekly","budget_credits":12.5,"budget_period":"week"}`)
	if k, _ := decodeKey(t, body); status != 201 || k.Budget == nil || *k.Budget != 12.5 || k.BudgetPeriod != "week" {
		t.Fatalf("create with a weekly budget: %d %s", status, body)
	}
	status, body = adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"monthly","budget_credits":0.000000001}`)
	if k, _ := decodeKey(t, body); status != 201 || !strings.Contains(string(body), `"budget_credits":0.000000001`) || k.BudgetPeriod != "month" {
		t.Fatalf("create with a default period: %d %s", status, body)
	}
	status, body = adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, `{"name":"none","budget_credits":null}`)
	if k, raw := decodeKey(t, body); status != 201 || k.Budget != nil || raw["budget_period"] != nil {
		t.Fatalf("create without a budget: %d %s", status, body)
	}
	// The list shows the budget and the spend.
	status, body = adminCall(t, ts.URL, "GET", "/admin/keys", adminToken, "")
	for _, s := range []string{`"budget_credits":12.5`, `"budget_period":"week"`, `"period_credits":0`, `"credits_nano":0`, `"period_start":"`} {
		if status != 200 || !strings.Contains(string(body), s) {
			t.Errorf("list: %d, no %s in %s", status, s, body)
		}
	}

	for _, tt := range []struct{ name, body, param string }{
		{"negative", `{"name":"x","budget_credits":-1}`, "budget_credits"},
		{"ten decimals", `{"name":"x","budget_credits":0.0000000001}`, "budget_credits"},
		{"a string", `{"name":"x","budget_credits":"5"}`, "budget_credits"},
		{"too large", `{"name":"x","budget_credits":1e30}`, "budget_credits"},
		{"bad period", `{"name":"x","budget_credits":5,"budget_period":"year"}`, "budget_period"},
		{"period not a string", `{"name":"x","budget_credits":5,"budget_period":7}`, "budget_period"},
		{"period without budget", `{"name":"x","budget_period":"day"}`, "budget_period"},
	} {
		status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken, tt.body)
		wantAdminError(t, tt.name, status, body, 400, "invalid_request_error", tt.param)
	}
	if list, err := st.List(context.Background(), time.Time{}); err != nil || len(list) != 3 {
		t.Fatalf("keys after refused bodies: %d (%v), want 3", len(list), err)
	}
}

// TestAdminUpdateKey: PATCH changes the members present, clears those that
// are null and keeps the absent ones.
func TestAdminUpdateKey(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := start(t, upstreamFunc(nil), func(d *gateway.Deps) { d.Keys = st; d.AdminToken = adminToken })
	status, body := adminCall(t, ts.URL, "POST", "/admin/keys", adminToken,
		`{"name":"dave","rpm":5,"tpm":1000,"concurrency":2,"models":["gpt-4o"],"budget_credits":10,"expires":"30d"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	want, _ := decodeKey(t, body)
	created := want
	ip := func(n int) *int { return &n }
	fp := func(f float64) *float64 { return &f }
	tp := func(s string) *time.Time { v, _ := time.Parse(time.RFC3339, s); return &v }

	for _, step := range []struct {
		path, body string
		edit       func(*adminKey)
	}{
		{"dave", `{"rpm":7}`, func(k *adminKey) { k.RPM = ip(7) }},
		{created.ID, `{"tpm":null,"concurrency":0}`, func(k *adminKey) { k.TPM, k.Concurrency = nil, ip(0) }},
		{"dave", `{"rpm":null}`, func(k *adminKey) { k.RPM = nil }},
		{"dave", `{"models":["gpt-4.1","gpt-4o"]}`, func(k *adminKey) { k.Models = []string{"gpt-4.1", "gpt-4o"} }},
		{"dave", `{"models":null}`, func(k *adminKey) { k.Models = nil }},
		{"dave", `{"budget_credits":0.5}`, func(k *adminKey) { k.Budget = fp(0.5) }},
		{"dave", `{"budget_period":"day"}`, func(k *adminKey) { k.BudgetPeriod = "day" }},
		{"dave", `{"budget_credits":3}`, func(k *adminKey) { k.Budget = fp(3) }}, // the period is kept
		{"dave", `{"budget_period":null}`, func(k *adminKey) { k.BudgetPeriod = "month" }},
		{"dave", `{"budget_credits":null}`, func(k *adminKey) { k.Budget, k.BudgetPeriod = nil, "" }},
		{"dave", `{"budget_credits":1,"budget_period":"week"}`, func(k *adminKey) { k.Budget, k.BudgetPeriod = fp(1), "week" }},
		{"dave", `{"expires_at":"2030-01-01T00:00:00Z"}`, func(k *adminKey) { k.ExpiresAt = tp("2030-01-01T00:00:00Z") }},
		{"dave", `{"expires":"2031-02-03"}`, func(k *adminKey) { k.ExpiresAt = tp("2031-02-03T00:00:00Z") }},
		{"dave", `{"expires_at":null}`, func(k *adminKey) { k.ExpiresAt = nil }},
		{"dave", `{"expires":"2031-02-03"}`, func(k *adminKey) { k.ExpiresAt = tp("2031-02-03T00:00:00Z") }},
		{"dave", `{"expires":null}`, func(k *adminKey) { k.ExpiresAt = nil }},
		{"dave", `{}`, func(*adminKey) {}},
	} {
		status, body := adminCall(t, ts.URL, "PATCH", "/admin/keys/"+step.path, adminToken, step.body)
		step.edit(&want)
		got, raw := decodeKey(t, body)
		if status != 200 || !reflect.DeepEqual(got, want) {
			t.Fatalf("PATCH %s: %d %s\n got %+v\nwant %+v", step.body, status, body, got, want)
		}
		if (raw["budget_period"] != nil) != (want.Budget != nil) {
			t.Errorf("PATCH %s: budget_period present without a budget, or absent with one: %s", step.body, body)
		}
		if _, ok := raw["key"]; ok {
			t.Errorf("PATCH %s: the answer holds a secret: %s", step.body, body)
		}
		// The store holds what the answer says.
		if stored := storedKey(t, st); !reflect.DeepEqual(stored, want) {
			t.Errorf("PATCH %s: stored %+v, answered %s", step.body, stored, body)
		}
	}

	// A relative expiry counts from now.
	status, body = adminCall(t, ts.URL, "PATCH", "/admin/keys/dave", adminToken, `{"expires":"7d"}`)
	if k, _ := decodeKey(t, body); status != 200 || k.ExpiresAt == nil || time.Until(*k.ExpiresAt) < 6*24*time.Hour || time.Until(*k.ExpiresAt) > 7*24*time.Hour {
		t.Fatalf("expires 7d: %d %s", status, body)
	}
	want, _ = decodeKey(t, body)

	for _, tt := range []struct {
		name, path, body   string
		status             int
		code, param, error string
	}{
		{"negative budget", "dave", `{"budget_credits":-1}`, 400, "invalid_request_error", "budget_credits", ""},
		{"ten decimals", "dave", `{"budget_credits":1.0000000001}`, 400, "invalid_request_error", "budget_credits", ""},
		{"budget as a string", "dave", `{"budget_credits":"5"}`, 400, "invalid_request_error", "budget_credits", ""},
		{"bad period", "dave", `{"budget_period":"year"}`, 400, "invalid_request_error", "budget_period", ""},
		{"period and no budget", "dave", `{"budget_credits":null,"budget_period":"day"}`, 400, "invalid_request_error", "", ""},
		{"negative rpm", "dave", `{"rpm":-1}`, 400, "invalid_request_error", "rpm", ""},
		{"fractional tpm", "dave", `{"tpm":1.5}`, 400, "invalid_request_error", "tpm", ""},
		{"concurrency as a string", "dave", `{"concurrency":"2"}`, 400, "invalid_request_error", "concurrency", ""},
		{"rpm over the maximum", "dave", `{"rpm":1000000000000}`, 400, "invalid_request_error", "", ""},
		{"models as a string", "dave", `{"models":"gpt-4o"}`, 400, "invalid_request_error", "models", ""},
		{"bad model name", "dave", `{"models":["a b"]}`, 400, "invalid_request_error", "", ""},
		{"unknown field", "dave", `{"rmp":5}`, 400, "invalid_json", "rmp", ""},
		{"case variant", "dave", `{"RPM":5}`, 400, "invalid_json", "RPM", ""},
		{"duplicate", "dave", `{"rpm":5,"rpm":null}`, 400, "invalid_json", "rpm", ""},
		{"name is not changed here", "dave", `{"name":"eve"}`, 400, "invalid_json", "name", ""},
		{"not an object", "dave", `[1]`, 400, "invalid_json", "", ""},
		{"empty body", "dave", ``, 400, "invalid_json", "", ""},
		{"both expiry forms", "dave", `{"expires":"30d","expires_at":"2030-01-01T00:00:00Z"}`, 400, "invalid_request_error", "expires", ""},
		{"both expiry forms, one null", "dave", `{"expires":null,"expires_at":"2030-01-01T00:00:00Z"}`, 400, "invalid_request_error", "expires", ""},
		{"bad expires", "dave", `{"expires":"someday"}`, 400, "invalid_request_error", "expires", ""},
		{"bad expires_at", "dave", `{"expires_at":"tomorrow"}`, 400, "invalid_request_error", "expires_at", ""},
		{"past expires_at", "dave", `{"expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_request_error", "", ""},
		{"unknown key", "nobody", `{"rpm":5}`, 404, "not_found", "", ""},
	} {
		status, body := adminCall(t, ts.URL, "PATCH", "/admin/keys/"+tt.path, adminToken, tt.body)
		wantAdminError(t, tt.name, status, body, tt.status, tt.code, tt.param)
	}
	// None of the refused bodies changed the key.
	if got := storedKey(t, st); !reflect.DeepEqual(got, want) {
		t.Fatalf("after refused updates:\n got %+v\nwant %+v", got, want)
	}

	// A revoked key is not updated; the admin token is needed.
	if status, body := adminCall(t, ts.URL, "POST", "/admin/keys/dave/revoke", adminToken, ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	status, body = adminCall(t, ts.URL, "PATCH", "/admin/keys/dave", adminToken, `{"rpm":5}`)
	wantAdminError(t, "revoked", status, body, 400, "invalid_request_error", "")
	status, body = adminCall(t, ts.URL, "PATCH", "/admin/keys/dave", "", `{"rpm":5}`)
	wantAdminError(t, "no admin token", status, body, 401, "invalid_api_key", "")
}

// TestAdminUpdateTakesEffect: a PATCH'd limit or budget holds for the
// key's very next request.
func TestAdminUpdateTakesEffect(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	lim := middleware.NewLimiter(middleware.LimitConfig{})
	t.Cleanup(lim.Close)
	budgets := middleware.NewBudgets(middleware.BudgetConfig{Spend: st.Spend})
	up := upstreamFunc(func(ctx context.Context, call *upCall) (*http.Response, error) {
		return response(200, jsonHeader(), `{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`), nil
	})
	ts := start(t, up, func(d *gateway.Deps) {
		d.Keys, d.AdminToken, d.Limiter, d.Budgets = st, adminToken, lim, budgets
	})
	k, err := st.Create(context.Background(), keys.CreateParams{Name: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	chat := func() (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`))
		req.Header.Set("Authorization", "Bearer "+k.Secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	patch := func(body string) {
		t.Helper()
		if status, b := adminCall(t, ts.URL, "PATCH", "/admin/keys/erin", adminToken, body); status != 200 {
			t.Fatalf("PATCH %s: %d %s", body, status, b)
		}
	}
	const remaining = "X-Copilot-Proxy-Budget-Remaining"

	if resp, b := chat(); resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Limit-Requests") != "" || resp.Header.Get(remaining) != "" {
		t.Fatalf("before: %d %v %s", resp.StatusCode, resp.Header, b)
	}

	// A request limit: the next request counts against it.
	patch(`{"rpm":1}`)
	if resp, b := chat(); resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Limit-Requests") != "1" {
		t.Fatalf("first request under rpm 1: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if resp, b := chat(); resp.StatusCode != 429 || !strings.Contains(string(b), `"rate_limit_exceeded"`) {
		t.Fatalf("second request under rpm 1: %d %s", resp.StatusCode, b)
	}
	patch(`{"rpm":null}`)
	if resp, b := chat(); resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Limit-Requests") != "" {
		t.Fatalf("rpm cleared: %d %v %s", resp.StatusCode, resp.Header, b)
	}

	// A budget: spent at once when it is 0, room again when raised,
	// gone when cleared.
	patch(`{"budget_credits":0,"budget_period":"day"}`)
	resp, b := chat()
	if resp.StatusCode != 429 || !strings.Contains(string(b), `"budget_exceeded"`) || !strings.Contains(string(b), `"insufficient_quota"`) ||
		resp.Header.Get("X-Should-Retry") != "false" || resp.Header.Get("Retry-After") == "" || resp.Header.Get(remaining) != "0" {
		t.Fatalf("budget 0: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	patch(`{"budget_credits":100}`)
	if resp, b := chat(); resp.StatusCode != 200 || resp.Header.Get(remaining) == "" || resp.Header.Get(remaining) == "0" {
		t.Fatalf("budget 100: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	patch(`{"budget_credits":null}`)
	if resp, b := chat(); resp.StatusCode != 200 || resp.Header.Get(remaining) != "" {
		t.Fatalf("budget cleared: %d %v %s", resp.StatusCode, resp.Header, b)
	}

	// Models: the allow-list holds at once too.
	patch(`{"models":["gpt-4.1"]}`)
	if resp, b := chat(); resp.StatusCode != 403 {
		t.Fatalf("model not allowed: %d %s", resp.StatusCode, b)
	}
}
