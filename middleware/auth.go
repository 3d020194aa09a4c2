package middleware

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/credits"
)

// Principal is the authenticated caller, as the gateway's key store describes
// it (the gateway adapts its key type to this one).
type Principal struct {
	KeyID, KeyName string
	// The key's own limits: nil = use the server default, 0 = unlimited.
	RPM, TPM, Concurrency *int
	// Models is the allow-list; empty = all models.
	Models []string
	// Budget is the most the key may spend per BudgetPeriod, in
	// nano-credits, when HasBudget.
	Budget       int64
	BudgetPeriod credits.Period
	HasBudget    bool
}

// AllowsModel reports whether the caller may use model: every model when
// its allow-list is empty.
func (p Principal) AllowsModel(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}

// Authenticator looks up a client key. It reports false for an unknown,
// revoked or expired key, and must be safe for concurrent use (and fast: it
// runs on every request).
type Authenticator interface {
	Authenticate(secret string) (Principal, bool)
}

// Defaults for AuthConfig.
const (
	DefaultAuthFailLimit  = 100
	DefaultAuthFailWindow = time.Minute
)

// AuthConfig tunes Auth.
type AuthConfig struct {
	// FailLimit is the number of failed attempts a client address may make
	// per FailWindow before it gets 429; 0 means DefaultAuthFailLimit and a
	// negative value turns the limit off.
	FailLimit int
	// FailWindow defaults to DefaultAuthFailWindow.
	FailWindow time.Duration
	// ClientIP returns the address failures are counted by. nil means the
	// host of r.RemoteAddr. X-Forwarded-For is not trusted by default: a
	// guesser could rotate it to dodge the limit or pin it to lock a
	// teammate out. Behind a reverse proxy every client has the proxy's
	// address and they all share one count; there, use NewClientIP with the
	// proxy's addresses (--trusted-proxy), which believes X-Forwarded-For
	// only as far as trusted proxies wrote it.
	ClientIP func(r *http.Request) string
}

// maxKeyLen bounds a presented key: anything longer is rejected without a
// lookup (issued keys are far shorter).
const maxKeyLen = 256

// invalidKeyMessage is the one answer to every failed authentication, so that
// nothing tells a guesser whether a key exists, was revoked or expired.
const invalidKeyMessage = "Invalid API key. Provide a valid copilot-proxy key as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."

const (
	headerAuthorization = "Authorization"
	headerAPIKey        = "X-Api-Key"
	headerShouldRetry   = "X-Should-Retry"
)

type principalKey struct{}

// Auth authenticates client keys. The key is read from
// "Authorization: Bearer <key>" (scheme case-insensitive, extra blanks
// tolerated) or, when there is no Bearer credential, from "x-api-key: <key>"
// (Anthropic-style clients). Exactly one candidate is looked up per request.
//
// On success the Principal goes into the context (see PrincipalFrom), the key
// id onto the Entry, and both credential headers are removed from the request
// so no later code can forward or log the secret.
//
// A missing, malformed, over-long, unknown, revoked or expired key gets the
// same 401 invalid_api_key envelope, with "WWW-Authenticate: Bearer" and
// "x-should-retry: false". The key never appears in a log line, an error or
// a response.
//
// Failed attempts are counted per client address by a FailureGate
// (httprate's sliding window counter). Once an address has failed FailLimit times within
// FailWindow, its further requests that fail get 429 rate_limit_exceeded
// (with Retry-After and x-should-retry: false) instead of 401, and are not
// counted; a request from that address with a valid key still passes, so a
// teammate behind the same NAT as a guesser is not locked out. The counter is
// consulted only on failure: the lookup itself is a cache hit, and a valid key
// must pass anyway. httprate's own 429/428 plain-text answers are never used.
//
// It panics if a is nil.
func Auth(a Authenticator, cfg AuthConfig) func(http.Handler) http.Handler {
	if a == nil {
		panic("middleware.Auth: nil Authenticator")
	}
	g := &authGate{a: a, gate: NewFailureGate(cfg.FailLimit, cfg.FailWindow, cfg.ClientIP)}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r2 := g.admit(r); r2 != nil {
				next.ServeHTTP(w, r2)
				return
			}
			g.refuse(w, r)
		})
	}
}

// authGate is Auth's state: the key lookup and the failure counter.
type authGate struct {
	a    Authenticator
	gate *FailureGate
}

// admit returns r carrying the principal of the key it presents, with the
// key's headers removed, or nil when it presents no valid key.
//
// It and refuse are kept out of the middleware's frame (noinline): that
// frame stays on the stack for a whole stream, and Go keeps a goroutine's
// stack at twice the most it has used (see gateway's upstream.do).
//
//go:noinline
func (g *authGate) admit(r *http.Request) *http.Request {
	secret, ok := credential(r.Header)
	if !ok {
		return nil
	}
	p, ok := g.a.Authenticate(secret)
	if !ok {
		return nil
	}
	ctx := r.Context()
	EntryFrom(ctx).SetKeyID(p.KeyID)
	r.Header.Del(headerAuthorization)
	r.Header.Del(headerAPIKey)
	return r.WithContext(WithPrincipal(ctx, p))
}

// refuse answers a request without a valid key: 401, or 429 once its
// address has failed too often (the gate then marks ReasonAuthFailures).
//
//go:noinline
func (g *authGate) refuse(w http.ResponseWriter, r *http.Request) {
	EntryFrom(r.Context()).SetLimitReason(ReasonAuth)
	w.Header().Set("WWW-Authenticate", "Bearer")
	g.gate.Refuse(w, r, api.NewError(api.CodeInvalidAPIKey, invalidKeyMessage), "API key")
}

// credential extracts the presented key. A Bearer Authorization header wins
// and is the only candidate when present, even if malformed; otherwise
// x-api-key is used. Malformed means empty, over-long, or containing anything
// but visible ASCII (which also rules out "Bearer a b").
func credential(h http.Header) (string, bool) {
	if vs := h[headerAuthorization]; len(vs) > 0 {
		if len(vs) == 1 {
			if tok, isBearer := bearerToken(vs[0]); isBearer {
				return tok, validKey(tok)
			}
		} else {
			return "", false // several Authorization headers: ambiguous
		}
	}
	vs := h[headerAPIKey]
	if len(vs) != 1 {
		return "", false
	}
	tok := trimBlanks(vs[0])
	return tok, validKey(tok)
}

// bearerToken returns the credential of a "Bearer <token>" value and whether
// the scheme is Bearer at all.
func bearerToken(v string) (string, bool) {
	v = trimBlanks(v)
	const scheme = "bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", true // "Bearer" with no token
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false // e.g. "Bearerx": another scheme
	}
	return trimBlanks(rest), true
}

func trimBlanks(s string) string { return strings.Trim(s, " \t") }

// validKey reports whether tok can be a key at all, so junk is refused
// without a lookup.
func validKey(tok string) bool {
	if tok == "" || len(tok) > maxKeyLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// principalCtx carries the Principal: one allocation instead of
// context.WithValue plus boxing the struct.
type principalCtx struct {
	context.Context
	p Principal
}

func (c *principalCtx) Value(key any) any {
	if _, ok := key.(principalKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// WithPrincipal returns ctx carrying p, for tests and for entry points that
// authenticate by other means.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return &principalCtx{Context: ctx, p: p}
}

// PrincipalFrom returns the authenticated caller, if any. With auth turned
// off there is none.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	if c, ok := ctx.Value(principalKey{}).(*principalCtx); ok {
		return c.p, true
	}
	return Principal{}, false
}
