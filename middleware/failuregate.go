package middleware

import (
	"net/http"
	"time"

	"github.com/go-chi/httprate"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// FailureGate throttles failed authentication attempts per client address:
// client keys (Auth), and the admin token on the admin API, /metrics and
// the console's sign-in. Only failures are counted, and the counter is
// consulted only on failure, so a right credential from an address others
// guessed from still passes: a teammate behind the same NAT as a guesser is
// not locked out.
type FailureGate struct {
	failures   *httprate.RateLimiter // nil: failures are not limited
	clientIP   func(*http.Request) string
	blockedFor time.Duration
}

// NewFailureGate allows limit failed attempts per client address per
// window. A limit of 0 means DefaultAuthFailLimit and a negative one turns
// the limit off; a window of 0 means DefaultAuthFailWindow. clientIP
// returns the address failures are counted by; nil means the host of
// r.RemoteAddr (see AuthConfig.ClientIP for why X-Forwarded-For is not
// trusted by default, and NewClientIP for behind a proxy).
func NewFailureGate(limit int, window time.Duration, clientIP func(*http.Request) string) *FailureGate {
	if limit == 0 {
		limit = DefaultAuthFailLimit
	}
	if window <= 0 {
		window = DefaultAuthFailWindow
	}
	if clientIP == nil {
		clientIP = peerIP
	}
	g := &FailureGate{clientIP: clientIP, blockedFor: ceilDur(window, time.Second)}
	if limit > 0 {
		g.failures = httprate.NewRateLimiter(limit, window,
			// No headers from httprate (so OnLimit never touches its
			// ResponseWriter): the answer is ours.
			httprate.WithResponseHeaders(httprate.ResponseHeaders{}),
			// OnLimit reports a counter error as "limited" after calling
			// this; the in-memory counter never fails, and we answer with
			// our envelope either way.
			httprate.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}),
		)
	}
	return g
}

// Fail counts a failed attempt from r's address. It reports whether the
// address is over its limit (the attempt is then not counted) and how long
// it should wait; a limited request's Entry gets ReasonAuthFailures. It is
// the decision only: Refuse answers with it, and a caller that answers
// otherwise (the console's sign-in page) uses it directly.
func (g *FailureGate) Fail(r *http.Request) (limited bool, wait time.Duration) {
	// OnLimit counts this failure unless the address is already over its
	// limit, atomically. Its ResponseWriter is unused (no headers).
	if g.failures == nil || !g.failures.OnLimit(nil, r, httprate.CanonicalizeIP(g.clientIP(r))) {
		return false, 0
	}
	EntryFrom(r.Context()).SetLimitReason(ReasonAuthFailures)
	// httprate's sliding counter cannot say exactly when the address drops
	// under the limit; a full window is a safe upper bound for a client
	// that stops failing.
	return true, g.blockedFor
}

// Refuse answers a failed attempt with e (a 401), or, once r's address is
// over its limit, with 429 rate_limit_exceeded ("Too many failed <what>
// attempts from this address.") with Retry-After and retry-after-ms, and
// without the WWW-Authenticate challenge a caller may have set for the
// 401. Both carry x-should-retry: false. It reports whether it answered
// 429.
func (g *FailureGate) Refuse(w http.ResponseWriter, r *http.Request, e *api.Error, what string) bool {
	h := w.Header()
	h.Set(headerShouldRetry, "false")
	limited, wait := g.Fail(r)
	if !limited {
		WriteError(w, r, e)
		return false
	}
	h.Del("WWW-Authenticate")
	writeRateLimited(w, r, wait, "Too many failed "+what+" attempts from this address.")
	return true
}
