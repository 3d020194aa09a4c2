package copilot_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// acctNoSecrets fails if the GitHub token or a Copilot token the fake
// issued appears in any of texts.
func acctNoSecrets(t *testing.T, fake *copilottest.Server, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range append(fake.IssuedTokens(), copilottest.GitHubToken) {
			if strings.Contains(text, s) {
				t.Fatalf("a secret appears in %q", text)
			}
		}
	}
}

// acctClosedURL is the URL of a port nothing listens on.
func acctClosedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// acctUserKnown reports whether acct holds the fake's default user answer.
func acctUserKnown(acct *copilot.Account) bool {
	q := acct.Quota
	return acct.Login == "octocat" && acct.Plan == "business" && q != nil && q.ResetDate == "2026-12-01" &&
		q.PremiumInteractions != nil && q.PremiumInteractions.Remaining == 120 && q.Chat != nil && q.Chat.Unlimited
}

func TestCheckAccount(t *testing.T) {
	t.Parallel()
	const business = "https://api.business.githubcopilot.com"
	tests := []struct {
		name          string
		setup         func(f *copilottest.Server)
		copilotAPIURL string // "fake": the fake's URL
		wantErr       string // the error's type, "<nil>" for none
		wantAPI       string // "fake": the fake's URL
		wantFrom      string
		wantUser      bool // login, plan and quota known
	}{
		{name: "endpoint of the token", wantErr: "<nil>", wantAPI: business, wantFrom: copilot.APIFromToken, wantUser: true},
		{name: "configured endpoint", copilotAPIURL: "fake", wantErr: "<nil>", wantAPI: "fake", wantFrom: copilot.APIFromConfigured, wantUser: true},
		{name: "default endpoint", setup: func(f *copilottest.Server) { f.SetEndpointsAPI(" ") },
			wantErr: "<nil>", wantAPI: copilot.DefaultBaseURL, wantFrom: copilot.APIFromDefault, wantUser: true},
		{name: "endpoint not allowed, account still shown", setup: func(f *copilottest.Server) { f.SetEndpointsAPI("https://evil.example.com") },
			wantErr: "*copilot.HostNotAllowedError", wantUser: true},
		{name: "endpoint not allowed comes before a failed user request", setup: func(f *copilottest.Server) {
			f.SetEndpointsAPI("https://evil.example.com")
			f.SetUserJSON(`"nope"`)
		}, wantErr: "*copilot.HostNotAllowedError"},
		{name: "user request fails", setup: func(f *copilottest.Server) { f.SetUserJSON(`"nope"`) },
			wantErr: "*copilot.UserError", wantAPI: business, wantFrom: copilot.APIFromToken},
		{name: "exchange rejected", setup: func(f *copilottest.Server) { f.SetGitHubToken("ghu_rotated") }, wantErr: "*copilot.ExchangeError"},
		{name: "exchange fails", setup: func(f *copilottest.Server) { f.FailExchange(http.StatusBadGateway, "", 0) }, wantErr: "*copilot.ExchangeError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t, copilottest.WithEndpointsAPI(business))
			if tc.setup != nil {
				tc.setup(fake)
			}
			fakeURL := func(s string) string { return strings.ReplaceAll(s, "fake", fake.URL()) }
			auth := copilot.NewAuth(fake.Client(), fake.URL(), copilottest.GitHubToken, copilot.Editor{})
			before := time.Now()
			acct, err := copilot.CheckAccount(t.Context(), auth, copilot.EndpointFor(fake.URL(), fakeURL(tc.copilotAPIURL)))
			if got := fmt.Sprintf("%T", err); got != tc.wantErr {
				t.Fatalf("error %s (%v), want %s", got, err, tc.wantErr)
			}
			if acct == nil {
				t.Fatal("no account")
			}
			if acct.APIURL != fakeURL(tc.wantAPI) || acct.APIURLFrom != tc.wantFrom {
				t.Errorf("api %q from %q, want %q from %q", acct.APIURL, acct.APIURLFrom, fakeURL(tc.wantAPI), tc.wantFrom)
			}
			exchanged := tc.wantErr != "*copilot.ExchangeError"
			if exp := acct.TokenExpiresAt; exchanged != (exp != nil) ||
				exp != nil && (exp.Location() != time.UTC || exp.Before(before.Add(29*time.Minute)) || exp.After(time.Now().Add(31*time.Minute))) {
				t.Errorf("token expiry %v", exp)
			}
			if exchanged != (acct.SKU == copilottest.DefaultSKU) {
				t.Errorf("sku %q", acct.SKU)
			}
			if got := acctUserKnown(acct); got != tc.wantUser {
				t.Errorf("account known: %v, want %v: %+v", got, tc.wantUser, acct)
			}
			b, _ := json.Marshal(acct)
			acctNoSecrets(t, fake, string(b), fmt.Sprint(err))
		})
	}
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setup      func(f *copilottest.Server)
		unreach    bool                 // GitHub's API at a closed port
		wantKind   *copilot.ErrorKind   // a hard failure of this kind
		wantUnchk  bool                 // a transient failure: unchecked, no error
		wantResult copilot.Verification // the fields besides Unchecked
	}{
		{name: "works", wantResult: copilot.Verification{SKU: copilottest.DefaultSKU, Login: "octocat", Plan: "business"}},
		{name: "user request fails", setup: func(f *copilottest.Server) { f.SetUserJSON(`"nope"`) },
			wantResult: copilot.Verification{SKU: copilottest.DefaultSKU}},
		{name: "401", setup: func(f *copilottest.Server) { f.FailExchange(http.StatusUnauthorized, "", 0) }, wantKind: acctPtr(copilot.KindBadToken)},
		{name: "403", setup: func(f *copilottest.Server) { f.FailExchange(http.StatusForbidden, "", 0) }, wantKind: acctPtr(copilot.KindNoAccess)},
		{name: "404", setup: func(f *copilottest.Server) { f.FailExchange(http.StatusNotFound, "", 0) }, wantKind: acctPtr(copilot.KindNoAccess)},
		{name: "502", setup: func(f *copilottest.Server) { f.FailExchange(http.StatusBadGateway, "", 0) }, wantUnchk: true},
		{name: "unreachable", unreach: true, wantUnchk: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t)
			if tc.setup != nil {
				tc.setup(fake)
			}
			api := fake.URL()
			if tc.unreach {
				api = acctClosedURL(t)
			}
			v, err := copilot.VerifyToken(t.Context(), copilot.NewAuth(fake.Client(), api, copilottest.GitHubToken, copilot.Editor{}))
			if tc.wantKind != nil {
				var ee *copilot.ExchangeError
				if !errors.As(err, &ee) || ee.Kind != *tc.wantKind || v != nil {
					t.Fatalf("got %+v, %v; want a %s error", v, err, *tc.wantKind)
				}
				acctNoSecrets(t, fake, err.Error())
				return
			}
			if err != nil || v == nil {
				t.Fatalf("got %+v, %v", v, err)
			}
			if (v.Unchecked != nil) != tc.wantUnchk {
				t.Errorf("unchecked: %v", v.Unchecked)
			}
			got := *v
			got.Unchecked = nil
			if got != tc.wantResult {
				t.Errorf("got %+v, want %+v", got, tc.wantResult)
			}
			if tc.wantUnchk && len(fake.RequestsTo("/copilot_internal/user")) != 0 {
				t.Error("asked for the user after a failed exchange")
			}
			acctNoSecrets(t, fake, fmt.Sprint(v.Unchecked))
		})
	}
}

func acctPtr[T any](v T) *T { return &v }

func TestExplainAccountError(t *testing.T) {
	t.Parallel()
	hints := copilot.ErrorHints{
		TokenSource:   "environment variable GH_TOKEN",
		GitHubAPIURL:  "https://ghe.example.com/api/v3",
		GitHubAPIFlag: "--github-api-url (COPILOT_PROXY_GITHUB_API_URL)",
	}
	refused := &url.Error{Op: "Get", URL: "https://ghe.example.com/api/v3/copilot_internal/v2/token", Err: syscall.ECONNREFUSED}
	notAllowed := &copilot.HostNotAllowedError{Of: "endpoints.api", URL: "https://evil.example.com", Reason: "not allowed"}
	plain := errors.New("something else")
	user := func(e *copilot.ExchangeError) error { return &copilot.UserError{Exchange: e} }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"bad token", &copilot.ExchangeError{Kind: copilot.KindBadToken, Status: 401, Message: "Bad credentials"},
			"GitHub rejected the GitHub token from environment variable GH_TOKEN (401: Bad credentials): run `copilot-proxy login` to sign in again"},
		{"bad token without message", &copilot.ExchangeError{Kind: copilot.KindBadToken, Status: 401},
			"GitHub rejected the GitHub token from environment variable GH_TOKEN (401): run `copilot-proxy login` to sign in again"},
		{"bad token on the user request", user(&copilot.ExchangeError{Kind: copilot.KindBadToken, Status: 401}),
			"GitHub rejected the GitHub token from environment variable GH_TOKEN (401): run `copilot-proxy login` to sign in again"},
		{"403", &copilot.ExchangeError{Kind: copilot.KindNoAccess, Status: 403, Message: "Your account has been flagged."},
			"no Copilot access for this GitHub account (403): Your account has been flagged.; check that the account has a Copilot seat (https://github.com/settings/copilot), or, if GitHub flagged the account, follow its message"},
		{"404", &copilot.ExchangeError{Kind: copilot.KindNoAccess, Status: 404},
			"no Copilot for this GitHub token (404); use an OAuth token of a Copilot-enabled app (ghu_/gho_), classic PATs are not accepted; run `copilot-proxy login` to get one"},
		{"unreachable", &copilot.ExchangeError{Kind: copilot.KindTransient, Err: refused},
			"cannot reach GitHub at https://ghe.example.com/api/v3 (connection refused): check the network, or --github-api-url (COPILOT_PROXY_GITHUB_API_URL)"},
		{"unreachable, not a URL error", &copilot.ExchangeError{Kind: copilot.KindTransient, Err: plain},
			"cannot reach GitHub at https://ghe.example.com/api/v3 (something else): check the network, or --github-api-url (COPILOT_PROXY_GITHUB_API_URL)"},
		{"no answer", &copilot.ExchangeError{Kind: copilot.KindTransient},
			"cannot reach GitHub at https://ghe.example.com/api/v3 (no answer): check the network, or --github-api-url (COPILOT_PROXY_GITHUB_API_URL)"},
		{"exchange 502", &copilot.ExchangeError{Kind: copilot.KindTransient, Status: 502},
			"the Copilot token exchange failed: GitHub returned 502 Bad Gateway on the token exchange; try again later"},
		{"user 502", user(&copilot.ExchangeError{Kind: copilot.KindTransient, Status: 502}),
			"the Copilot quota request failed: GitHub returned 502 Bad Gateway on the Copilot user request; try again later"},
		{"user answer unusable", user(&copilot.ExchangeError{Kind: copilot.KindTransient, Status: 200, Message: "the body is not the expected JSON"}),
			"the Copilot quota request failed: GitHub returned an unusable Copilot user answer (200): the body is not the expected JSON; try again later"},
		{"host not allowed: as it is", notAllowed, notAllowed.Error()},
		{"other error: as it is", plain, "something else"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := hints.Explain(tc.err)
			if got == nil || got.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", got, tc.want)
			}
			if strings.Contains(got.Error(), "\n") {
				t.Errorf("not one line: %q", got)
			}
		})
	}
	// Errors it leaves alone keep their identity, for errors.Is and As.
	if got := hints.Explain(notAllowed); got != error(notAllowed) {
		t.Errorf("host error replaced by %v", got)
	}
}
