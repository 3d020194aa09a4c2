package copilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// maxExchangeBody bounds how much of a token-exchange response is read: the
// real answer is about 1 KiB, and an error page must not exhaust memory.
const maxExchangeBody = 1 << 20

// Token is a Copilot API token obtained from the exchange. Value is a secret:
// String, GoString, MarshalJSON and MarshalZerologObject all leave it out, so
// a Token can be printed or logged without leaking it.
type Token struct {
	Value     string        // the Copilot token (secret)
	ExpiresAt time.Time     // expires_at
	RefreshIn time.Duration // refresh_in; 0 when absent
	APIURL    string        // endpoints.api; "" when absent
	SKU       string        // sku; "" when absent
}

// String describes the token without its value.
func (t Token) String() string {
	return fmt.Sprintf("copilot token [redacted] (expires_at=%s refresh_in=%s api=%q sku=%q)",
		t.ExpiresAt.UTC().Format(time.RFC3339), t.RefreshIn, t.APIURL, t.SKU)
}

// GoString keeps %#v from printing the value.
func (t Token) GoString() string { return "copilot.Token{" + t.String() + "}" }

// MarshalJSON encodes the token's metadata; the value is never encoded.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Value     string    `json:"value"`
		ExpiresAt time.Time `json:"expires_at"`
		RefreshIn string    `json:"refresh_in"`
		APIURL    string    `json:"api_url,omitempty"`
		SKU       string    `json:"sku,omitempty"`
	}{"[redacted]", t.ExpiresAt, t.RefreshIn.String(), t.APIURL, t.SKU})
}

// MarshalZerologObject logs the token's metadata; the value is never logged.
func (t *Token) MarshalZerologObject(e *zerolog.Event) {
	if t == nil {
		return
	}
	e.Time("expires_at", t.ExpiresAt).Stringer("refresh_in", t.RefreshIn)
	if t.APIURL != "" {
		e.Str("api_url", t.APIURL)
	}
	if t.SKU != "" {
		e.Str("sku", t.SKU)
	}
}

// ErrorKind classifies a failed token exchange.
type ErrorKind int

// Exchange error kinds.
const (
	// KindTransient: network errors, 5xx, 429, unusable answers; retry with backoff.
	KindTransient ErrorKind = iota
	// KindBadToken: GitHub answered 401, the GitHub token is bad or revoked.
	KindBadToken
	// KindNoAccess: GitHub answered 403 or 404, the account or token type has no Copilot.
	KindNoAccess
)

// String names the kind for logs.
func (k ErrorKind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindBadToken:
		return "bad_github_token"
	case KindNoAccess:
		return "no_copilot_access"
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// ExchangeError is a failed token exchange. Its text is meant for a person
// (it ends up in logs, /readyz and 503 answers) and never contains a token.
type ExchangeError struct {
	Kind    ErrorKind
	Status  int    // HTTP status from GitHub; 0 for network errors
	Message string // GitHub's message (message / error_details.message), or what was wrong with a 200 answer
	Err     error  // underlying network error, if any (never contains a token)
}

// Error returns one line a person understands, saying what to do when there
// is something to do.
func (e *ExchangeError) Error() string {
	switch {
	case e.Kind == KindBadToken:
		msg := e.Message
		if msg == "" {
			msg = http.StatusText(e.Status)
		}
		return fmt.Sprintf("GitHub rejected the GitHub token (%d %s): run `copilot-proxy login` or set COPILOT_PROXY_GITHUB_TOKEN to a valid token", e.Status, msg)
	case e.Kind == KindNoAccess && e.Status == http.StatusNotFound:
		s := "no Copilot for this GitHub token (404)"
		if e.Message != "" {
			s += ": " + e.Message
		}
		return s + "; use an OAuth token of a Copilot-enabled app (ghu_/gho_), classic PATs are not accepted"
	case e.Kind == KindNoAccess:
		s := fmt.Sprintf("no Copilot access for this GitHub account (%d)", e.Status)
		if e.Message != "" {
			s += ": " + e.Message
		}
		return s
	case e.Status == 0:
		if e.Err != nil {
			return "GitHub unreachable: " + e.Err.Error()
		}
		return "GitHub unreachable"
	case e.Status == http.StatusOK:
		return "GitHub returned an unusable token answer (200): " + e.Message
	default:
		s := fmt.Sprintf("GitHub returned %d %s on the token exchange", e.Status, http.StatusText(e.Status))
		if e.Message != "" {
			s += ": " + e.Message
		}
		return s
	}
}

// Unwrap returns the underlying network error (e.g. context.Canceled).
func (e *ExchangeError) Unwrap() error { return e.Err }

// Hard reports whether retrying soon is pointless: the GitHub token is bad
// (401) or has no Copilot (403, 404). Such errors need a person to act.
func (e *ExchangeError) Hard() bool {
	return e.Kind == KindBadToken || e.Kind == KindNoAccess
}

// Auth exchanges a GitHub OAuth token for Copilot tokens. It is stateless and
// safe for concurrent use; TokenManager adds caching and refresh.
type Auth struct {
	hc          *http.Client
	url         string
	githubToken string
	ed          Editor
}

// NewAuth returns an Auth calling {githubAPIURL}/copilot_internal/v2/token
// with hc (nil: a client with a 60 s timeout; the exchange never streams, so a
// whole-request timeout is fine here). Redirects are never followed: a 3xx
// is a transient *ExchangeError, never a second request with the token.
// githubAPIURL is e.g.
// "https://api.github.com"; a trailing slash is ignored. Empty Editor fields
// take their defaults.
func NewAuth(hc *http.Client, githubAPIURL string, githubToken string, ed Editor) *Auth {
	return &Auth{
		hc:          noRedirects(hc, time.Minute),
		url:         strings.TrimRight(githubAPIURL, "/") + "/copilot_internal/v2/token",
		githubToken: githubToken,
		ed:          ed.withDefaults(),
	}
}

// exchangeResponse is the part of GitHub's answer the gateway uses. Numbers are
// float64 because the API is undocumented and could send 1.764e9 or 1500.0.
type exchangeResponse struct {
	Token     string   `json:"token"`
	ExpiresAt *float64 `json:"expires_at"`
	RefreshIn *float64 `json:"refresh_in"`
	Endpoints struct {
		API string `json:"api"`
	} `json:"endpoints"`
	SKU string `json:"sku"`
}

// githubError is GitHub's error body; 403s carry error_details.
type githubError struct {
	Message      string `json:"message"`
	ErrorDetails *struct {
		Message string `json:"message"`
		Title   string `json:"title"`
		URL     string `json:"url"`
	} `json:"error_details"`
}

// Exchange performs one token exchange. Every failure is an *ExchangeError.
func (a *Auth) Exchange(ctx context.Context) (*Token, error) {
	body, xe := a.get(ctx, a.url)
	if xe != nil {
		return nil, xe
	}

	var er exchangeResponse
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, &ExchangeError{Kind: KindTransient, Status: http.StatusOK, Message: "the body is not JSON"}
	}
	switch {
	case er.Token == "":
		return nil, &ExchangeError{Kind: KindTransient, Status: http.StatusOK, Message: `"token" is missing`}
	case er.ExpiresAt == nil || *er.ExpiresAt <= 0 || *er.ExpiresAt > 1e11:
		return nil, &ExchangeError{Kind: KindTransient, Status: http.StatusOK, Message: `"expires_at" is missing or invalid`}
	}
	sec, frac := math.Modf(*er.ExpiresAt)
	tok := &Token{
		Value:     er.Token,
		ExpiresAt: time.Unix(int64(sec), int64(frac*1e9)),
		APIURL:    strings.TrimSpace(er.Endpoints.API),
		SKU:       er.SKU,
	}
	// A negative or absurd refresh_in counts as absent; TokenManager then uses
	// the lifetime. Capped at a day so the Duration cannot overflow.
	if er.RefreshIn != nil && *er.RefreshIn > 0 && *er.RefreshIn < 86400 {
		tok.RefreshIn = time.Duration(*er.RefreshIn * float64(time.Second))
	}
	return tok, nil
}

// get sends GET url with the GitHub token and the editor headers and returns
// the body of a 200 answer (at most maxExchangeBody bytes). Any other outcome
// is an *ExchangeError: a network error or another status, classified by kind.
func (a *Auth) get(ctx context.Context, url string) ([]byte, *ExchangeError) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		// Only a malformed base URL gets here; the URL holds no secret.
		return nil, &ExchangeError{Kind: KindTransient, Message: "bad GitHub API URL", Err: a.sanitize(err)}
	}
	req.Header.Set("Authorization", "token "+a.githubToken)
	req.Header.Set("Accept", "application/json")
	a.ed.setExchangeHeaders(req.Header)

	resp, err := a.hc.Do(req)
	if re, ok := redirectOf(err); ok {
		return nil, &ExchangeError{Kind: KindTransient, Status: re.Status, Message: "GitHub answered with a redirect, which is not followed (check --github-api-url)", Err: re}
	}
	if err != nil {
		return nil, &ExchangeError{Kind: KindTransient, Err: a.sanitize(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeBody))
	if err != nil {
		return nil, &ExchangeError{Kind: KindTransient, Err: a.sanitize(err)}
	}
	if resp.StatusCode != http.StatusOK {
		e := &ExchangeError{Kind: KindTransient, Status: resp.StatusCode, Message: a.errorMessage(resp.Header.Get("Content-Type"), body)}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			e.Kind = KindBadToken
		case http.StatusForbidden, http.StatusNotFound:
			e.Kind = KindNoAccess
		}
		return nil, e
	}
	return body, nil
}

// errorMessage extracts GitHub's message from an error body: the JSON message
// (error_details.message preferred, it is the one meant for the user), or the
// first line of a short plain-text body. HTML pages yield nothing useful.
func (a *Auth) errorMessage(contentType string, body []byte) string {
	var ge githubError
	if json.Unmarshal(body, &ge) == nil {
		msg := ge.Message
		if ge.ErrorDetails != nil && ge.ErrorDetails.Message != "" {
			msg = ge.ErrorDetails.Message
			if ge.ErrorDetails.URL != "" {
				msg += " (" + ge.ErrorDetails.URL + ")"
			}
		}
		return a.clean(msg)
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "text/plain" {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return a.clean(line)
}

// clean makes a message safe and short for one log line (see clean).
func (a *Auth) clean(s string) string { return clean(s, a.githubToken) }

// sanitize keeps err (so errors.Is works for context.Canceled and net errors)
// unless its text somehow contains the GitHub token.
func (a *Auth) sanitize(err error) error {
	if a.githubToken != "" && strings.Contains(err.Error(), a.githubToken) {
		return errors.New(strings.ReplaceAll(err.Error(), a.githubToken, "[redacted]"))
	}
	return err
}
