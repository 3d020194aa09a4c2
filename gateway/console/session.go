package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// CookieName is the session cookie's name.
const CookieName = "copilot_proxy_session"

// CSRFHeader carries the session's CSRF token on every request that
// changes state; no-JS forms send it as the form field csrfField.
const (
	CSRFHeader = "X-CSRF-Token"
	csrfField  = "csrf_token"
)

// errNoSession is the answer to a request without a live session.
func errNoSession() *api.Error {
	return api.NewError(api.CodeInvalidAPIKey, "Not signed in, or the session expired or was signed out. Sign in at /console/login.")
}

// session returns the live session of r's cookie and its token. A store
// failure is an error; no cookie or no live session is keys.ErrNoSession.
// An admin session is live only while the admin token it signed in with is
// this instance's: changing the token (say, because it leaked) or removing
// it ends every admin session, here and on any instance sharing the store.
func (c *Console) session(r *http.Request) (keys.Session, string, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return keys.Session{}, "", keys.ErrNoSession
	}
	s, err := c.cfg.Store.Session(r.Context(), ck.Value)
	if err == nil && s.Role == keys.RoleAdmin && (c.adminFP == "" || s.AdminFP != c.adminFP) {
		return keys.Session{}, "", keys.ErrNoSession
	}
	return s, ck.Value, err
}

// AdminCookie authenticates an admin API request by its session cookie,
// for the admin API's auth (which tries the bearer token first). It
// reports whether r carries a session cookie at all, and when it does, the
// refusal (nil: admitted). A cookie naming no live session is a 401; a key
// holder's session, or a change (anything but GET and HEAD) without the
// session's CSRF token or from another site, is a 403.
func (c *Console) AdminCookie(r *http.Request) (bool, *api.Error) {
	if ck, err := r.Cookie(CookieName); err != nil || ck.Value == "" {
		return false, nil
	}
	s, _, err := c.session(r)
	switch {
	case errors.Is(err, keys.ErrNoSession):
		return true, errNoSession()
	case err != nil:
		middleware.LoggerFrom(r.Context()).Error().Err(err).Msg("console: session lookup failed")
		return true, api.NewError(api.CodeInternal, "the key store failed; see the gateway log")
	case s.Role != keys.RoleAdmin:
		return true, api.NewError(api.CodeForbidden, "This session belongs to a client key; the admin API needs the admin token.")
	}
	if isChange(r.Method) {
		if e := checkChange(r, s.CSRF, ""); e != nil {
			return true, e
		}
	}
	return true, nil
}

// isChange reports whether a request method may change state.
func isChange(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// checkChange guards a cookie-authenticated change: it must come from this
// site (Sec-Fetch-Site and Origin, when the browser sends them) and carry
// the session's CSRF token, as the X-CSRF-Token header or (no-JS forms)
// formToken.
func checkChange(r *http.Request, want, formToken string) *api.Error {
	if e := checkSameSite(r); e != nil {
		return e
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = formToken
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if got == "" || subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return api.NewError(api.CodeForbidden, "Missing or wrong CSRF token: a change made with the console's session cookie must send the session's csrf_token in the X-CSRF-Token header.")
	}
	return nil
}

// checkSameSite refuses a request another origin made the browser send: a
// Sec-Fetch-Site of cross-site or same-site (another port or subdomain),
// or an Origin whose host is not this one. Origin "null" is what browsers
// send for the console's own forms under Referrer-Policy: no-referrer, so
// it is left to Sec-Fetch-Site (and the CSRF token).
func checkSameSite(r *http.Request) *api.Error {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return api.NewError(api.CodeForbidden, "Cross-site request refused: the console accepts changes from its own pages only.")
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "null" {
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return api.NewError(api.CodeForbidden, "Cross-origin request refused: the console accepts changes from its own pages only.")
		}
	}
	return nil
}

// setCookie sends the session cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's request carries it), Secure when served
// over TLS (see secure), for the session's lifetime.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, token string, s keys.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: token, Path: "/",
		MaxAge: int(c.cfg.Lifetime / time.Second), Expires: s.ExpiresAt,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// secure reports a request that reached the browser over TLS: served with
// TLS here, or by a TLS-terminating proxy that says so (X-Forwarded-Proto or
// Forwarded proto=https). Trusting the headers is safe for this one use: a
// forged one can only make the cookie stricter (kept off plain HTTP).
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if strings.EqualFold(strings.TrimSpace(proto), "https") {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Forwarded"), ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, "proto") && strings.EqualFold(strings.Trim(v, `"`), "https") {
			return true
		}
	}
	return false
}

// clearCookie removes the session cookie from the browser.
func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// checkToken says which role a presented token signs in as: the admin
// token (compared in constant time), or a valid client key (checked
// without marking it used). ok is false for anything else.
func (c *Console) checkToken(token string) (role, keyID string, ok bool) {
	if c.cfg.AdminToken != "" {
		g, w := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(c.cfg.AdminToken))
		if subtle.ConstantTimeCompare(g[:], w[:]) == 1 {
			return keys.RoleAdmin, "", true
		}
	}
	if k, found := c.cfg.Store.Verify(token); found {
		return keys.RoleKey, k.ID, true
	}
	return "", "", false
}
