package openapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/copilot-proxy/copilot-proxy/gateway/console"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
)

// The stylesheet and the script are plain text to the validator.
func init() {
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
}

// TestConsoleMatchesSpec holds the web console's answers (the session API,
// GET /admin/account, the pages and the cookie-authenticated admin API) to
// the document, the 403 forbidden answers included.
func TestConsoleMatchesSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	e := newEnv(t, 0)
	ctx := context.Background()
	session := func(role, keyID string) (http.Header, string) {
		ns := keys.NewSession{Role: role, KeyID: keyID, Lifetime: time.Hour}
		if role == keys.RoleAdmin {
			ns.AdminFP = keys.AdminFingerprint(adminToken)
		}
		tok, s, err := e.store.CreateSession(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Cookie": {console.CookieName + "=" + tok}}, s.CSRF
	}
	admin, csrf := session(keys.RoleAdmin, "")
	signOut, signOutCSRF := session(keys.RoleAdmin, "")
	k, err := e.store.Get(ctx, "wide")
	if err != nil {
		t.Fatal(err)
	}
	holder, _ := session(keys.RoleKey, k.ID)
	with := func(h http.Header, kv ...string) http.Header {
		out := h.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	calls := []call{
		{name: "sign in", method: "POST", path: "/console/api/session", body: `{"token":"` + adminToken + `"}`, status: 200, contains: []string{`"role":"admin"`, `"csrf_token"`}},
		{name: "sign in as a key holder", method: "POST", path: "/console/api/session", body: `{"token":"` + e.key + `"}`, status: 200, contains: []string{`"role":"key"`}},
		{name: "sign in wrong", method: "POST", path: "/console/api/session", body: `{"token":"wrong-token-0123456789"}`, status: 401, code: "invalid_api_key"},
		{name: "sign in cross-site", method: "POST", path: "/console/api/session", header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, body: `{"token":"` + adminToken + `"}`, status: 403, code: "forbidden"},
		{name: "sign in no token", method: "POST", path: "/console/api/session", body: `{}`, status: 400, code: "missing_required_parameter"},
		{name: "sign in too large", method: "POST", path: "/console/api/session", body: `{"token":"` + strings.Repeat("x", 5<<10) + `"}`, status: 413, code: "request_too_large"},
		{name: "who am I", method: "GET", path: "/console/api/session", header: admin, status: 200},
		{name: "who am I signed out", method: "GET", path: "/console/api/session", status: 401, code: "invalid_api_key"},
		{name: "me", method: "GET", path: "/console/api/me", header: holder, status: 200, contains: []string{`"base_url"`, k.ID}},
		{name: "me as the admin", method: "GET", path: "/console/api/me", header: admin, status: 403, code: "forbidden"},
		{name: "account", method: "GET", path: "/admin/account", auth: "Bearer " + adminToken, status: 200, contains: []string{`"conditions"`}},
		{name: "account with the cookie", method: "GET", path: "/admin/account", header: admin, status: 200},
		{name: "admin list with the cookie", method: "GET", path: "/admin/keys", header: admin, status: 200},
		{name: "admin create without CSRF", method: "POST", path: "/admin/keys", header: admin, body: `{"name":"eve"}`, status: 403, code: "forbidden"},
		{name: "admin create with CSRF", method: "POST", path: "/admin/keys", header: with(admin, console.CSRFHeader, csrf), body: `{"name":"erin"}`, status: 201},
		{name: "admin list with a key session", method: "GET", path: "/admin/keys", header: holder, status: 403, code: "forbidden"},
		{name: "metrics with the admin cookie", method: "GET", path: "/metrics", header: admin, status: 401, code: "invalid_api_key"},
		{name: "metrics with a key session", method: "GET", path: "/metrics", header: holder, status: 401, code: "invalid_api_key"},
		{name: "keys page", method: "GET", path: "/console/keys", header: admin, status: 200, headers: []string{"Content-Security-Policy", "X-Frame-Options"}},
		{name: "usage page", method: "GET", path: "/console/usage?range=month&by=model", template: "/console/usage", header: admin, status: 200},
		{name: "account page", method: "GET", path: "/console/account", header: admin, status: 200},
		{name: "me page", method: "GET", path: "/console/me", header: holder, status: 200},
		{name: "login page", method: "GET", path: "/console/login", status: 200},
		{name: "home signed out (to login)", method: "GET", path: "/console/", status: 200},
		{name: "stylesheet", method: "GET", path: "/console/assets/console.css", template: "/console/assets/{file}", status: 200},
		{name: "sign out without CSRF", method: "DELETE", path: "/console/api/session", header: signOut, status: 403, code: "forbidden"},
		{name: "sign out", method: "DELETE", path: "/console/api/session", header: with(signOut, console.CSRFHeader, signOutCSRF), status: 204},
		{name: "sign out signed out", method: "DELETE", path: "/console/api/session", header: signOut, status: 401, code: "invalid_api_key"},
	}
	seen := map[string]bool{}
	for _, c := range calls {
		if code, ok := check(t, doc, e, c); ok && code != "" {
			seen[code] = true
		}
	}
	if !seen["forbidden"] {
		t.Error("no console case produced forbidden")
	}
}
