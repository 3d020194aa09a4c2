package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/copilot-proxy/copilot-proxy/gateway"
	"github.com/copilot-proxy/copilot-proxy/gateway/console"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const adminToken = "admin-token-0123456789abcdef"

// clock is a settable clock for the gateway and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	ts    *httptest.Server
	store *keys.Store
	clk   *clock
}

// newEnv serves a gateway with a key store and, unless token is "", an
// admin token.
func newEnv(t *testing.T, token string) *env {
	t.Helper()
	clk := &clock{t: time.Now().UTC()}
	store, err := keys.Open(context.Background(), t.TempDir()+"/keys.db", keys.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return serve(t, store, clk, token)
}

// noUpstream refuses every call: the console's pages never reach Copilot,
// and no test reaches the internet.
type noUpstream struct{}

func (noUpstream) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("console tests have no upstream")
}

// serve serves a gateway on store with the admin token (none when ""), as
// another instance, or the same one restarted, would.
func serve(t *testing.T, store *keys.Store, clk *clock, token string) *env {
	t.Helper()
	srv := gateway.NewServer(gateway.Deps{
		Logger: zerolog.New(io.Discard), Upstream: noUpstream{}, Keys: store, AdminToken: token, Now: clk.Now,
		Quota: func() any { return map[string]any{"headers": nil, "account": nil} },
	})
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{ts: ts, store: store, clk: clk}
}

// browser is a client with a cookie jar that does not follow redirects.
func (e *env) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends a request and returns the status, headers and body.
func do(t *testing.T, c *http.Client, method, url, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

type session struct {
	Role      string    `json:"role"`
	KeyID     string    `json:"key_id"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// signIn signs c in with token and returns the session.
func (e *env) signIn(t *testing.T, c *http.Client, token string) session {
	t.Helper()
	st, _, body := do(t, c, "POST", e.ts.URL+"/console/api/session", `{"token":"`+token+`"}`, nil)
	if st != http.StatusOK {
		t.Fatalf("sign-in: %d %s", st, body)
	}
	var s session
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func errCode(t *testing.T, body string) string {
	t.Helper()
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("not an error envelope: %q", body)
	}
	return env.Error.Code
}

func TestSignInSetsAStrictCookie(t *testing.T) {
	e := newEnv(t, adminToken)
	st, h, body := do(t, e.browser(t), "POST", e.ts.URL+"/console/api/session", `{"token":"`+adminToken+`"}`, nil)
	if st != http.StatusOK {
		t.Fatalf("%d %s", st, body)
	}
	resp := &http.Response{Header: h}
	cks := resp.Cookies()
	if len(cks) != 1 {
		t.Fatalf("cookies %v", cks)
	}
	ck := cks[0]
	if ck.Name != console.CookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" ||
		ck.MaxAge != int(console.DefaultLifetime/time.Second) || ck.Secure || len(ck.Value) < 43 {
		t.Errorf("cookie %+v", ck)
	}
	if strings.Contains(body, adminToken) || strings.Contains(body, ck.Value) || strings.Contains(body, keys.AdminFingerprint(adminToken)) {
		t.Error("the sign-in answer repeats the token, its fingerprint or the session token")
	}
	var s session
	_ = json.Unmarshal([]byte(body), &s)
	if s.Role != "admin" || s.CSRFToken == "" || !s.ExpiresAt.After(e.clk.Now().Add(11*time.Hour)) {
		t.Errorf("session %+v", s)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("security headers %v", h)
	}
}

func TestSessionExpiresAndSignsOut(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	e.signIn(t, c, adminToken)
	if st, _, _ := do(t, c, "GET", e.ts.URL+"/admin/keys", "", nil); st != http.StatusOK {
		t.Fatalf("admin API with the cookie: %d", st)
	}
	e.clk.Advance(console.DefaultLifetime)
	if st, _, body := do(t, c, "GET", e.ts.URL+"/console/api/session", "", nil); st != http.StatusUnauthorized {
		t.Errorf("after the lifetime: %d %s", st, body)
	}
	s := e.signIn(t, c, adminToken)
	if st, _, body := do(t, c, "DELETE", e.ts.URL+"/console/api/session", "", nil); st != http.StatusForbidden || errCode(t, body) != "forbidden" {
		t.Errorf("sign-out without CSRF: %d %s", st, body)
	}
	if st, _, body := do(t, c, "DELETE", e.ts.URL+"/console/api/session", "", map[string]string{console.CSRFHeader: s.CSRFToken}); st != http.StatusNoContent {
		t.Fatalf("sign-out: %d %s", st, body)
	}
	if st, _, _ := do(t, c, "GET", e.ts.URL+"/admin/keys", "", nil); st != http.StatusUnauthorized {
		t.Errorf("admin API after sign-out: %d", st)
	}
}

// TestAdminSessionEndsWithItsToken: an admin session is tied to the admin
// token it signed in with. A server on the same store with another admin
// token, or with none, refuses it on the admin API and the console pages;
// one with the same token (a restart) keeps it.
func TestAdminSessionEndsWithItsToken(t *testing.T) {
	e := newEnv(t, adminToken)
	if _, err := e.store.Create(context.Background(), keys.CreateParams{Name: "alice"}); err != nil {
		t.Fatal(err) // a key keeps the console on without an admin token
	}
	c := e.browser(t)
	e.signIn(t, c, adminToken)
	for _, tc := range []struct {
		name, token string
		admin       int // GET /admin/keys
		live        bool
	}{
		{"same token", adminToken, http.StatusOK, true},
		{"another token", "another-admin-token-0123456789", http.StatusUnauthorized, false},
		{"no token", "", http.StatusNotFound, false}, // no admin API at all
	} {
		// Cookies ignore the port: c sends its session to this server too.
		other := serve(t, e.store, e.clk, tc.token)
		if st, _, body := do(t, c, "GET", other.ts.URL+"/admin/keys", "", nil); st != tc.admin {
			t.Errorf("%s: /admin/keys %d %s, want %d", tc.name, st, body, tc.admin)
		}
		st, h, _ := do(t, c, "GET", other.ts.URL+"/console/keys", "", nil)
		if tc.live && st != http.StatusOK {
			t.Errorf("%s: /console/keys %d, want 200", tc.name, st)
		}
		if !tc.live && (st != http.StatusSeeOther || h.Get("Location") != "/console/login") {
			t.Errorf("%s: /console/keys %d to %q, want 303 to /console/login", tc.name, st, h.Get("Location"))
		}
		if st, _, _ := do(t, c, "GET", other.ts.URL+"/console/api/session", "", nil); (st == http.StatusOK) != tc.live {
			t.Errorf("%s: /console/api/session %d", tc.name, st)
		}
	}
}

// TestPagesAnswer500WhenTheStoreFails: a page whose session cannot be read
// is a 500, not a redirect to the sign-in page (an outage is not a
// sign-out).
func TestPagesAnswer500WhenTheStoreFails(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	e.signIn(t, c, adminToken)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/console/", "/console/keys", "/console/me"} {
		if st, h, body := do(t, c, "GET", e.ts.URL+p, "", nil); st != http.StatusInternalServerError || errCode(t, body) != "internal_error" {
			t.Errorf("%s with the store down: %d to %q %s", p, st, h.Get("Location"), body)
		}
	}
}

func TestAdminChangesNeedCSRFFromThisSite(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	s := e.signIn(t, c, adminToken)
	create := `{"name":"alice"}`
	for name, hdr := range map[string]map[string]string{
		"no token":        nil,
		"wrong token":     {console.CSRFHeader: s.CSRFToken + "x"},
		"cross origin":    {console.CSRFHeader: s.CSRFToken, "Origin": "http://evil.example"},
		"cross site":      {console.CSRFHeader: s.CSRFToken, "Sec-Fetch-Site": "cross-site"},
		"same site":       {console.CSRFHeader: s.CSRFToken, "Origin": "null", "Sec-Fetch-Site": "same-site"},
		"token in a form": {"Content-Type": "application/x-www-form-urlencoded"},
	} {
		st, _, body := do(t, c, "POST", e.ts.URL+"/admin/keys", create, hdr)
		if st != http.StatusForbidden || errCode(t, body) != "forbidden" {
			t.Errorf("%s: %d %s", name, st, body)
		}
	}
	if list, _ := e.store.List(context.Background(), time.Time{}); len(list) != 0 {
		t.Fatalf("a refused request created %d keys", len(list))
	}
	origin := map[string]string{console.CSRFHeader: s.CSRFToken, "Origin": e.ts.URL, "Sec-Fetch-Site": "same-origin"}
	if st, _, body := do(t, c, "POST", e.ts.URL+"/admin/keys", create, origin); st != http.StatusCreated {
		t.Fatalf("create with CSRF: %d %s", st, body)
	}
	// Bearer requests are unchanged: no CSRF token needed.
	if st, _, body := do(t, http.DefaultClient, "POST", e.ts.URL+"/admin/keys", `{"name":"bob"}`,
		map[string]string{"Authorization": "Bearer " + adminToken}); st != http.StatusCreated {
		t.Errorf("bearer create: %d %s", st, body)
	}
}

func TestKeyHolderSeesOnlyTheirKey(t *testing.T) {
	e := newEnv(t, adminToken)
	ctx := context.Background()
	alice, _ := e.store.Create(ctx, keys.CreateParams{Name: "alice"})
	bob, _ := e.store.Create(ctx, keys.CreateParams{Name: "bob"})
	e.store.Record(keys.UsageRecord{KeyID: alice.ID, Model: "gpt-4o", PromptTokens: 5})
	e.store.Record(keys.UsageRecord{KeyID: bob.ID, Model: "claude-sonnet-4.5", PromptTokens: 7})
	c := e.browser(t)
	s := e.signIn(t, c, alice.Secret)
	if s.Role != "key" || s.KeyID != alice.ID {
		t.Fatalf("session %+v", s)
	}
	csrf := map[string]string{console.CSRFHeader: s.CSRFToken}
	for _, req := range [][2]string{{"GET", "/admin/keys"}, {"GET", "/admin/usage"}, {"GET", "/admin/account"}, {"POST", "/admin/keys/" + bob.ID + "/revoke"}} {
		if st, _, body := do(t, c, req[0], e.ts.URL+req[1], "", csrf); st != http.StatusForbidden || errCode(t, body) != "forbidden" {
			t.Errorf("%s %s with a key session: %d %s", req[0], req[1], st, body)
		}
	}
	for _, p := range []string{"/console/keys", "/console/usage", "/console/account"} {
		if st, h, _ := do(t, c, "GET", e.ts.URL+p, "", nil); st != http.StatusSeeOther || h.Get("Location") != "/console/me" {
			t.Errorf("%s with a key session: %d to %q", p, st, h.Get("Location"))
		}
	}
	st, _, body := do(t, c, "GET", e.ts.URL+"/console/api/me", "", nil)
	if st != http.StatusOK || !strings.Contains(body, alice.ID) || strings.Contains(body, bob.ID) || strings.Contains(body, "claude-sonnet") {
		t.Errorf("me: %d %s", st, body)
	}
	st, _, page := do(t, c, "GET", e.ts.URL+"/console/me", "", nil)
	if !strings.Contains(page, `<caption>By model</caption>`) || !strings.Contains(page, `<tr><th scope="row">gpt-4o</th><td>1</td><td>5</td>`) {
		t.Errorf("me page: no models table with alice's row")
	}
	// The page carries the session's random CSRF token, which may spell
	// "bob" by chance: it is left out of the check for bob's key.
	if !strings.Contains(page, `name="csrf-token" content="`+s.CSRFToken+`"`) {
		t.Error("me page: not the session's CSRF token")
	}
	shown := strings.ReplaceAll(page, s.CSRFToken, "")
	if st != http.StatusOK || !strings.Contains(page, "alice") || strings.Contains(shown, "bob") || strings.Contains(page, bob.ID) || !strings.Contains(page, "ANTHROPIC_BASE_URL="+e.ts.URL) ||
		!strings.Contains(page, `base_url = &#34;`+e.ts.URL+`/v1&#34;`) || strings.Contains(page, alice.Secret) {
		t.Errorf("me page: %d\n%s", st, page)
	}
	// Revoking the key ends its session at once.
	if _, err := e.store.Revoke(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := do(t, c, "GET", e.ts.URL+"/console/api/me", "", nil); st != http.StatusUnauthorized {
		t.Errorf("me after the key was revoked: %d", st)
	}
	// An admin session has no key page.
	a := e.browser(t)
	e.signIn(t, a, adminToken)
	if st, _, body := do(t, a, "GET", e.ts.URL+"/console/api/me", "", nil); st != http.StatusForbidden {
		t.Errorf("me with an admin session: %d %s", st, body)
	}
}

func TestFailedSignInsAreThrottled(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	for i := range 100 {
		st, _, body := do(t, c, "POST", e.ts.URL+"/console/api/session", `{"token":"wrong-token-0123456789"}`, nil)
		if st != http.StatusUnauthorized || errCode(t, body) != "invalid_api_key" {
			t.Fatalf("attempt %d: %d %s", i+1, st, body)
		}
	}
	st, h, body := do(t, c, "POST", e.ts.URL+"/console/api/session", `{"token":"wrong-token-0123456789"}`, nil)
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || errCode(t, body) != "rate_limit_exceeded" {
		t.Errorf("over the limit: %d %s", st, body)
	}
	if h.Get("Retry-After") != "60" || h.Get("X-Should-Retry") != "false" {
		t.Errorf("over the limit: Retry-After %q X-Should-Retry %q", h.Get("Retry-After"), h.Get("X-Should-Retry"))
	}
	// The sign-in form gets its page again, with the same status and wait.
	st, h, page := do(t, c, "POST", e.ts.URL+"/console/api/session", url.Values{"token": {"wrong-token-0123456789"}}.Encode(),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if st != http.StatusTooManyRequests || h.Get("Retry-After") != "60" || !strings.Contains(page, "<form") || !strings.Contains(page, "Too many failed sign-ins") {
		t.Errorf("form over the limit: %d %v\n%s", st, h, page)
	}
	// The admin API shares the counter: a wrong bearer token is now 429 too.
	if st, _, _ := do(t, c, "GET", e.ts.URL+"/admin/keys", "", map[string]string{"Authorization": "Bearer nope"}); st != http.StatusTooManyRequests {
		t.Errorf("admin API after failed sign-ins: %d", st)
	}
	// The right token still passes.
	e.signIn(t, c, adminToken)
}

// TestSignInBodyErrors: a blank token is a 400 in JSON and in a form, and
// does not count as a failed guess; an over-long body is a 413.
func TestSignInBodyErrors(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	big := strings.Repeat("x", 5<<10)
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		status     int
		code       string // JSON answers only
	}{
		{"blank JSON token", `{"token":"  "}`, nil, http.StatusBadRequest, "missing_required_parameter"},
		{"blank form token", "token=+", form, http.StatusBadRequest, ""},
		{"no form token", "other=1", form, http.StatusBadRequest, ""},
		{"JSON too large", `{"token":"` + big + `"}`, nil, http.StatusRequestEntityTooLarge, "request_too_large"},
		{"form too large", "token=" + big, form, http.StatusRequestEntityTooLarge, ""},
	} {
		for i := range middleware.DefaultAuthFailLimit + 1 {
			st, _, body := do(t, c, "POST", e.ts.URL+"/console/api/session", tc.body, tc.hdr)
			if st != tc.status || (tc.code != "" && errCode(t, body) != tc.code) || (tc.code == "" && !strings.Contains(body, "<form")) {
				t.Fatalf("%s, attempt %d: %d %s", tc.name, i+1, st, body)
			}
		}
	}
	// None of them counted: a wrong token is still a 401, not a 429.
	if st, _, body := do(t, c, "POST", e.ts.URL+"/console/api/session", `{"token":"wrong-token-0123456789"}`, nil); st != http.StatusUnauthorized {
		t.Errorf("wrong token after the blank ones: %d %s", st, body)
	}
}

func TestFormSignInAndSignOut(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	form := func(path string, v url.Values) (int, http.Header, string) {
		return do(t, c, "POST", e.ts.URL+path, v.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	}
	st, _, page := form("/console/api/session", url.Values{"token": {"not-the-token-at-all"}})
	if st != http.StatusUnauthorized || !strings.Contains(page, "<form") || !strings.Contains(page, "Wrong admin token") || strings.Contains(page, "not-the-token-at-all") {
		t.Errorf("wrong form sign-in: %d\n%s", st, page)
	}
	st, h, _ := form("/console/api/session", url.Values{"token": {adminToken}})
	if st != http.StatusSeeOther || h.Get("Location") != "/console/" {
		t.Fatalf("form sign-in: %d %v", st, h)
	}
	st, _, page = do(t, c, "GET", e.ts.URL+"/console/keys", "", nil)
	if st != http.StatusOK || !strings.Contains(page, `<table id="keys-table">`) {
		t.Fatalf("keys page: %d", st)
	}
	csrf := between(page, `name="csrf_token" value="`, `"`)
	if st, _, _ := form("/console/signout", url.Values{"csrf_token": {"wrong"}}); st != http.StatusForbidden {
		t.Errorf("sign-out with a wrong token: %d", st)
	}
	st, h, _ = form("/console/signout", url.Values{"csrf_token": {csrf}})
	if st != http.StatusSeeOther || h.Get("Location") != "/console/login" {
		t.Errorf("form sign-out: %d %v", st, h)
	}
	if st, h, _ := do(t, c, "GET", e.ts.URL+"/console/keys", "", nil); st != http.StatusSeeOther || h.Get("Location") != "/console/login" {
		t.Errorf("keys page after sign-out: %d %q", st, h.Get("Location"))
	}
}

func TestPagesRenderWithoutSecrets(t *testing.T) {
	e := newEnv(t, adminToken)
	c := e.browser(t)
	s := e.signIn(t, c, adminToken)
	_, _, body := do(t, c, "POST", e.ts.URL+"/admin/keys", `{"name":"carol","rpm":5,"budget_credits":10}`, map[string]string{console.CSRFHeader: s.CSRFToken})
	var created struct{ ID, Key string }
	_ = json.Unmarshal([]byte(body), &created)
	if !strings.HasPrefix(created.Key, "cpk_") {
		t.Fatalf("create: %s", body)
	}
	e.store.Record(keys.UsageRecord{KeyID: created.ID, Model: "gpt-4o", PromptTokens: 10, CompletionTokens: 2, Credits: 3e9})
	for _, p := range []string{"/console/keys", "/console/usage", "/console/usage?range=month&by=model", "/console/usage?range=day", "/console/account"} {
		st, h, page := do(t, c, "GET", e.ts.URL+p, "", nil)
		if st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v", p, st, h)
		}
		if strings.Contains(page, created.Key[4:]) || strings.Contains(page, "<script>") || strings.Contains(page, " style=") {
			t.Errorf("%s has a secret, an inline script or an inline style", p)
		}
		if !strings.Contains(page, `<th scope="col">`) || !strings.Contains(page, `<main id="main"`) {
			t.Errorf("%s lacks its table or main", p)
		}
	}
	ctx := context.Background()
	dave, _ := e.store.Create(ctx, keys.CreateParams{Name: "dave"})
	if _, err := e.store.Revoke(ctx, dave.ID); err != nil {
		t.Fatal(err)
	}
	soon := e.clk.Now().Add(time.Hour)
	if _, err := e.store.Create(ctx, keys.CreateParams{Name: "erin", ExpiresAt: &soon}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Hour)
	_, _, page := do(t, c, "GET", e.ts.URL+"/console/keys", "", nil)
	for _, want := range []string{"carol", "10 / month", "<td>3 <meter", `class="badge active"`, `class="badge revoked"`, `class="badge expired"`} {
		if !strings.Contains(page, want) {
			t.Errorf("keys page lacks %q", want)
		}
	}
	_, _, page = do(t, c, "GET", e.ts.URL+"/console/usage?range=week&by=model", "", nil)
	if !strings.Contains(page, "gpt-4o") || !strings.Contains(page, "<strong>12</strong> tokens") || !strings.Contains(page, "<strong>3</strong> credits") {
		t.Errorf("usage page:\n%s", page)
	}
	// The totals tables: groups headed by the grouping, days, one row each.
	day := e.clk.Now().UTC().Format("2006-01-02")
	for _, want := range []string{`<table id="groups-table">`, `<th scope="col">Model</th>`, `<tr><th scope="row">gpt-4o</th><td>1</td><td>10</td><td>2</td><td>3</td><td>0</td></tr>`,
		`<table id="days-table">`, `<th scope="col">Day</th>`, `<tr><th scope="row">` + day + `</th><td>1</td><td>10</td><td>2</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("usage page lacks %s", want)
		}
	}
	if _, _, page := do(t, c, "GET", e.ts.URL+"/console/usage?range=day&by=key", "", nil); !strings.Contains(page, `<th scope="col">Key</th>`) {
		t.Error("usage by key: the groups table is not headed Key")
	}
	_, _, page = do(t, c, "GET", e.ts.URL+"/console/account", "", nil)
	if !strings.Contains(page, "key_store") || !strings.Contains(page, "shutting_down") {
		t.Errorf("account page lacks the conditions:\n%s", page)
	}
	st, h, _ := do(t, c, "GET", e.ts.URL+"/console/assets/console.js", "", nil)
	if st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
		t.Errorf("console.js: %d %v", st, h)
	}
	if st, _, _ := do(t, c, "GET", e.ts.URL+"/console/assets/nope.js", "", nil); st != http.StatusNotFound {
		t.Errorf("unknown asset: %d", st)
	}
}

func TestConsoleOffWithoutAdminTokenOrKeys(t *testing.T) {
	e := newEnv(t, "")
	if st, _, _ := do(t, http.DefaultClient, "GET", e.ts.URL+"/console/login", "", nil); st != http.StatusNotFound {
		t.Errorf("console with nobody to sign in: %d", st)
	}
	k, _ := e.store.Create(context.Background(), keys.CreateParams{Name: "alice"})
	if st, _, _ := do(t, http.DefaultClient, "GET", e.ts.URL+"/console/login", "", nil); st != http.StatusOK {
		t.Errorf("console with a key: %d", st)
	}
	c := e.browser(t)
	if s := e.signIn(t, c, k.Secret); s.Role != "key" {
		t.Errorf("session %+v", s)
	}
	// Without an admin token the admin token cannot sign in.
	if st, _, _ := do(t, c, "POST", e.ts.URL+"/console/api/session", `{"token":""}`, nil); st != http.StatusBadRequest {
		t.Errorf("empty token: %d", st)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// tlsProxyRows are requests as a TLS-terminating proxy may forward them,
// and whether they reached the browser over TLS.
var tlsProxyRows = []struct {
	hdr  map[string]string
	want bool
}{
	{nil, false},
	{map[string]string{"X-Forwarded-Proto": "https"}, true},
	{map[string]string{"X-Forwarded-Proto": "HTTPS, http"}, true},
	{map[string]string{"X-Forwarded-Proto": "http"}, false},
	{map[string]string{"Forwarded": `for=192.0.2.1;proto=https;host=gw.example`}, true},
	{map[string]string{"Forwarded": `for=192.0.2.1;proto=http`}, false},
}

// TestCookieSecureBehindTLSProxy: behind a TLS-terminating proxy that says
// so, the cookie is Secure; over plain HTTP it is not.
func TestCookieSecureBehindTLSProxy(t *testing.T) {
	for _, c := range tlsProxyRows {
		e := newEnv(t, adminToken)
		st, h, body := do(t, e.browser(t), "POST", e.ts.URL+"/console/api/session", `{"token":"`+adminToken+`"}`, c.hdr)
		if st != http.StatusOK {
			t.Fatalf("%d %s", st, body)
		}
		cks := (&http.Response{Header: h}).Cookies()
		if len(cks) != 1 || cks[0].Secure != c.want {
			t.Errorf("headers %v: cookies %+v, want Secure=%v", c.hdr, cks, c.want)
		}
	}
}

// TestBaseURLBehindTLSProxy: the base URL a key holder is told to use has
// the scheme the browser used, by the same rule as the cookie's Secure
// flag, on the session API and on the page.
func TestBaseURLBehindTLSProxy(t *testing.T) {
	e := newEnv(t, adminToken)
	k, err := e.store.Create(context.Background(), keys.CreateParams{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.browser(t)
	e.signIn(t, c, k.Secret)
	host := strings.TrimPrefix(e.ts.URL, "http://")
	for _, row := range tlsProxyRows {
		want := "http://" + host
		if row.want {
			want = "https://" + host
		}
		st, _, body := do(t, c, "GET", e.ts.URL+"/console/api/me", "", row.hdr)
		var me struct {
			BaseURL string `json:"base_url"`
		}
		if err := json.Unmarshal([]byte(body), &me); err != nil || st != http.StatusOK || me.BaseURL != want {
			t.Errorf("headers %v: /console/api/me %d base_url %q, want %q", row.hdr, st, me.BaseURL, want)
		}
		if _, _, page := do(t, c, "GET", e.ts.URL+"/console/me", "", row.hdr); !strings.Contains(page, "ANTHROPIC_BASE_URL="+want) {
			t.Errorf("headers %v: the page does not say ANTHROPIC_BASE_URL=%s", row.hdr, want)
		}
	}
}
