package copilot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Where Account.APIURL came from.
const (
	APIFromConfigured = "configured" // Endpoint.BaseURL
	APIFromToken      = "token"      // the Copilot token's endpoints.api
	APIFromDefault    = "default"    // DefaultBaseURL
)

// Account is what CheckAccount found out about the account of a GitHub
// token. Its JSON is part of `copilot-proxy status --json`, so the names are
// fixed; what is unknown, e.g. after a failure, is left out.
type Account struct {
	Login          string       `json:"login,omitempty"`
	Plan           string       `json:"plan,omitempty"`
	SKU            string       `json:"sku,omitempty"` // the Copilot token's, else the account's
	APIURL         string       `json:"api_url,omitempty"`
	APIURLFrom     string       `json:"api_url_from,omitempty"` // APIFromConfigured, APIFromToken or APIFromDefault
	TokenExpiresAt *time.Time   `json:"token_expires_at,omitempty"`
	Quota          *QuotaPeriod `json:"quota,omitempty"`
}

// QuotaPeriod is the account's quota snapshots with the date they reset.
type QuotaPeriod struct {
	Quotas
	ResetDate string `json:"reset_date,omitempty"`
}

// CheckAccount checks the GitHub token of auth the way serve uses it: a
// token exchange, the Copilot API base the token leads to under ep, then the
// account's plan and quota. The Account holds what was learned even on
// failure. The error is the first problem: the exchange's *ExchangeError, a
// *HostNotAllowedError from ep (the plan and quota are still fetched, to
// show as much as possible), or the quota request's *UserError.
// ErrorHints.Explain words each of them for a person.
func CheckAccount(ctx context.Context, auth *Auth, ep Endpoint) (*Account, error) {
	acct := &Account{}
	tok, err := auth.Exchange(ctx)
	if err != nil {
		return acct, err
	}
	exp := tok.ExpiresAt.UTC()
	acct.SKU, acct.TokenExpiresAt = tok.SKU, &exp
	problem := acct.setAPI(ep, tok)

	u, err := auth.User(ctx)
	if err != nil {
		if problem == nil {
			problem = err
		}
		return acct, problem
	}
	acct.Login, acct.Plan = u.Login, u.Plan
	acct.SKU = cmp.Or(acct.SKU, u.SKU)
	acct.Quota = &QuotaPeriod{Quotas: u.Quotas, ResetDate: u.ResetDate}
	return acct, problem
}

// setAPI records the Copilot API base of tok under ep and where it came from.
func (a *Account) setAPI(ep Endpoint, tok *Token) error {
	api, err := ep.APIBase(tok)
	if err != nil {
		return err // names the host and says how to fix it
	}
	a.APIURL, a.APIURLFrom = api, APIFromDefault
	switch {
	case trimBase(ep.BaseURL) != "":
		a.APIURLFrom = APIFromConfigured
	case tok.APIURL != "":
		a.APIURLFrom = APIFromToken
	}
	return nil
}

// ErrorHints is what the caller knows that helps a person act on a failed
// GitHub call; Explain names it.
type ErrorHints struct {
	TokenSource   string // where the GitHub token came from, e.g. "file /home/me/.config/copilot-proxy/github-token"
	GitHubAPIURL  string // the GitHub API base URL that was called
	GitHubAPIFlag string // how the user sets GitHubAPIURL, e.g. "--github-api-url (COPILOT_PROXY_GITHUB_API_URL)"
}

// Explain turns an error of CheckAccount into one line saying what to do.
// Errors that are not an *ExchangeError (or a *UserError wrapping one) are
// returned as they are. The texts it builds on never contain a token.
func (h ErrorHints) Explain(err error) error {
	var ee *ExchangeError
	if !errors.As(err, &ee) {
		return err
	}
	what := "the Copilot token exchange"
	if errors.As(err, new(*UserError)) {
		what = "the Copilot quota request"
	}
	msg := ""
	if ee.Message != "" {
		msg = ": " + ee.Message
	}
	switch {
	case ee.Kind == KindBadToken:
		return fmt.Errorf("GitHub rejected the GitHub token from %s (401%s): run `copilot-proxy login` to sign in again", h.TokenSource, msg)
	case ee.Kind == KindNoAccess && ee.Status == http.StatusForbidden:
		return fmt.Errorf("no Copilot access for this GitHub account (403)%s; check that the account has a Copilot seat (https://github.com/settings/copilot), or, if GitHub flagged the account, follow its message", msg)
	case ee.Kind == KindNoAccess:
		return fmt.Errorf("%v; run `copilot-proxy login` to get one", ee)
	case ee.Status == 0:
		return fmt.Errorf("cannot reach GitHub at %s (%s): check the network, or %s", h.GitHubAPIURL, unreachableReason(ee), h.GitHubAPIFlag)
	default:
		return fmt.Errorf("%s failed: %v; try again later", what, err)
	}
}

// unreachableReason is the network error of ee without the URL, which the
// explanation names already.
func unreachableReason(ee *ExchangeError) string {
	if ee.Err == nil {
		return "no answer"
	}
	var ue *url.Error
	if errors.As(ee.Err, &ue) {
		return ue.Err.Error()
	}
	return ee.Err.Error()
}

// Verification is what VerifyToken found out about a new GitHub token.
type Verification struct {
	// Unchecked is why the token could not be checked: a transient exchange
	// failure (GitHub down or slow), which says nothing about the token.
	// Nil when the exchange worked.
	Unchecked error
	SKU       string // the Copilot token's sku; "" when unknown
	Login     string // the account; "" when unknown
	Plan      string // the account's Copilot plan; "" when unknown
}

// VerifyToken checks a freshly obtained GitHub token (that of auth) the way
// serve will use it, before it is kept: with a token exchange. A hard
// failure (ExchangeError.Hard: the token is rejected, or the account has no
// Copilot) is the error: the token is not worth keeping. A transient one is
// Verification.Unchecked: keep the token rather than make the user sign in
// again. After a working exchange it asks for the account's login and plan,
// best effort.
func VerifyToken(ctx context.Context, auth *Auth) (*Verification, error) {
	tok, err := auth.Exchange(ctx)
	var ee *ExchangeError
	if errors.As(err, &ee) && ee.Hard() {
		return nil, ee
	}
	if err != nil {
		return &Verification{Unchecked: err}, nil
	}
	v := &Verification{SKU: tok.SKU}
	if u, err := auth.User(ctx); err == nil {
		v.Login, v.Plan = u.Login, u.Plan
	}
	return v, nil
}
