package console

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// maxSignInBody bounds a sign-in body: one token.
const maxSignInBody = 4 << 10

// SignIn serves POST /console/api/session: {"token": "..."} as JSON, or
// token=... form-encoded (the sign-in page without JavaScript). The admin
// token signs in as the admin, a client key as that key's holder; the
// answer sets the session cookie. JSON gets the session (200) or the 401
// envelope; the form gets a redirect to the console (303) or the sign-in
// page again with the error. Failures are throttled per address (Refuse).
func (c *Console) SignIn(w http.ResponseWriter, r *http.Request) {
	form := isForm(r)
	token, e := readToken(w, r, form)
	if e == nil {
		e = checkSameSite(r)
	}
	if e != nil {
		c.fail(w, r, form, e, false)
		return
	}
	role, keyID, ok := c.checkToken(token)
	if !ok {
		c.fail(w, r, form, api.NewError(api.CodeInvalidAPIKey, "Wrong admin token or client key."), true)
		return
	}
	ns := keys.NewSession{Role: role, KeyID: keyID, Lifetime: c.cfg.Lifetime}
	if role == keys.RoleAdmin {
		ns.AdminFP = c.adminFP
	}
	tok, s, err := c.cfg.Store.CreateSession(r.Context(), ns)
	if err != nil {
		middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("console: cannot create a session")
		c.fail(w, r, form, api.NewError(api.CodeInternal, "the key store failed; see the gateway log"), false)
		return
	}
	c.setCookie(w, r, tok, s)
	if form {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	middleware.WriteJSON(w, r, http.StatusOK, s) // keys.Session is the session API's JSON
}

// fail answers a failed sign-in: through the gate when it counts as a
// wrong token (401, or 429 past the limit), else as is. A form gets the
// sign-in page again with the error, and the same status and Retry-After.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, form bool, e *api.Error, counted bool) {
	switch {
	case !form && counted:
		c.cfg.Gate.Refuse(w, r, e, "sign-in")
		return
	case !form:
		middleware.WriteError(w, r, e)
		return
	}
	code, status, msg := e.Code, e.HTTPStatus(), e.Message
	if counted {
		if limited, wait := c.cfg.Gate.Fail(r); limited {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(wait/time.Second), 10))
			code, status = api.CodeRateLimitExceeded, http.StatusTooManyRequests
			msg = "Too many failed sign-ins from this address. Wait a minute and try again."
		}
	}
	middleware.EntryFrom(r.Context()).SetErrorCode(string(code)) // for the access log, as WriteError does
	c.render(w, r, status, "login", page{Title: "Sign in", Error: msg})
}

// isForm reports whether r's body is form-encoded.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// readToken reads the token of a sign-in body. A blank token is a 400
// (missing_required_parameter) in either form, not a failed guess.
func readToken(w http.ResponseWriter, r *http.Request, form bool) (string, *api.Error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInBody)
	var token string
	if form {
		if err := r.ParseForm(); err != nil {
			return "", bodyError(err, api.NewError(api.CodeInvalidRequest, "could not read the sign-in form"))
		}
		token = r.PostForm.Get("token")
	} else {
		var body struct {
			Token string `json:"token"`
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return "", bodyError(err, api.NewError(api.CodeInvalidRequest, "could not read the sign-in body"))
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return "", api.NewError(api.CodeInvalidJSON, `The request body must be a JSON object {"token": "..."} or a form with token=.`)
		}
		token = body.Token
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", api.NewError(api.CodeMissingField, "token is required: the admin token or a client key").WithParam("token")
	}
	return token, nil
}

// bodyError is body_too_large when err is the body limit's, else other.
func bodyError(err error, other *api.Error) *api.Error {
	if errors.As(err, new(*http.MaxBytesError)) {
		return api.NewError(api.CodeBodyTooLarge, "the sign-in body is too large")
	}
	return other
}

// WhoAmI serves GET /console/api/session: the signed-in session, with its
// CSRF token, or 401.
func (c *Console) WhoAmI(w http.ResponseWriter, r *http.Request) {
	s, ok := c.requireSession(w, r)
	if !ok {
		return
	}
	middleware.WriteJSON(w, r, http.StatusOK, s) // keys.Session is the session API's JSON
}

// SignOut serves DELETE /console/api/session: it ends the session (on every
// instance: it lives in the key store) and clears the cookie. It needs the
// CSRF token, so another site cannot sign the user out.
func (c *Console) SignOut(w http.ResponseWriter, r *http.Request) {
	if c.signOut(w, r, "") {
		w.WriteHeader(http.StatusNoContent)
	}
}

// SignOutForm serves POST /console/signout, the sign-out button without
// JavaScript (csrf_token as a form field); it redirects to the sign-in page.
func (c *Console) SignOutForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInBody)
	if err := r.ParseForm(); err != nil {
		middleware.WriteError(w, r, api.NewError(api.CodeInvalidRequest, "could not read the form"))
		return
	}
	if c.signOut(w, r, r.PostForm.Get(csrfField)) {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	}
}

// signOut checks and ends r's session; false when it answered an error.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, formToken string) bool {
	s, tok, ok := c.requireSessionToken(w, r)
	if !ok {
		return false
	}
	if e := checkChange(r, s.CSRF, formToken); e != nil {
		middleware.WriteError(w, r, e)
		return false
	}
	if err := c.cfg.Store.DeleteSession(r.Context(), tok); err != nil {
		middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("console: cannot delete a session")
		middleware.WriteError(w, r, api.NewError(api.CodeInternal, "the key store failed; see the gateway log"))
		return false
	}
	clearCookie(w, r)
	return true
}

// requireSession is the live session of r, or false after answering 401
// (or 500 when the store fails).
func (c *Console) requireSession(w http.ResponseWriter, r *http.Request) (keys.Session, bool) {
	s, _, ok := c.requireSessionToken(w, r)
	return s, ok
}

func (c *Console) requireSessionToken(w http.ResponseWriter, r *http.Request) (keys.Session, string, bool) {
	s, tok, err := c.session(r)
	switch {
	case errors.Is(err, keys.ErrNoSession):
		w.Header().Set("WWW-Authenticate", `Cookie realm="copilot-proxy console"`)
		middleware.WriteError(w, r, errNoSession())
		return s, "", false
	case err != nil:
		middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("console: session lookup failed")
		middleware.WriteError(w, r, api.NewError(api.CodeInternal, "the key store failed; see the gateway log"))
		return s, "", false
	}
	return s, tok, true
}

// meInfo is GET /console/api/me: the key holder's key as the admin API
// lists it, its usage per model and day (the admin API's usage rows) over
// the last 30 days, and the base URL to configure tools with.
type meInfo struct {
	Key     keys.KeyWithUsage `json:"key"`
	Usage   []keys.UsageRow   `json:"usage"`
	BaseURL string            `json:"base_url"`
	Since   string            `json:"since"`
}

// meWindow is how far back the key holder's usage goes.
const meWindow = 29 * 24 * time.Hour

// Me serves GET /console/api/me, for a key holder's session only: an
// admin session gets 403 (the admin has no key of their own; the admin
// API shows every key).
func (c *Console) Me(w http.ResponseWriter, r *http.Request) {
	s, ok := c.requireSession(w, r)
	if !ok {
		return
	}
	if s.Role != keys.RoleKey {
		middleware.WriteError(w, r, api.NewError(api.CodeForbidden, "This is a key holder's view; an admin session reads every key at /admin/keys and /admin/usage."))
		return
	}
	me, err := c.me(r, s.KeyID)
	if err != nil {
		middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("console: cannot read the key's usage")
		middleware.WriteError(w, r, api.NewError(api.CodeInternal, "the key store failed; see the gateway log"))
		return
	}
	middleware.WriteJSON(w, r, http.StatusOK, me)
}

// me gathers the key holder's view of keyID.
func (c *Console) me(r *http.Request, keyID string) (meInfo, error) {
	ctx := r.Context()
	k, err := c.cfg.Store.KeyUsage(ctx, keyID, c.cfg.QuotaReset())
	if err != nil {
		return meInfo{}, err
	}
	since := startOfDay(c.cfg.Now().Add(-meWindow))
	rows, err := c.cfg.Store.Usage(ctx, keys.UsageQuery{Key: keyID, Since: since})
	if err != nil {
		return meInfo{}, err
	}
	if rows == nil {
		rows = []keys.UsageRow{}
	}
	return meInfo{Key: k, Usage: rows, BaseURL: baseURL(r), Since: since.Format("2006-01-02")}, nil
}

// startOfDay is the start of t's UTC day.
func startOfDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// baseURL is the gateway's address as the browser reached it: https when
// the cookie is Secure (served with TLS here or by a TLS-terminating proxy
// that says so, see secure), so the snippets match what the browser used.
func baseURL(r *http.Request) string {
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
