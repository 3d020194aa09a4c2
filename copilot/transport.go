package copilot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
)

// Request headers the caller sets per request; the transport sets the rest.
const (
	// HeaderInitiator is X-Initiator: "user" when the last message is the
	// user's, else "agent" (it decides premium-request billing).
	HeaderInitiator = "X-Initiator"
	// HeaderVision is Copilot-Vision-Request: "true" only when a message has
	// an image (sending it always causes 429s).
	HeaderVision = "Copilot-Vision-Request"
	// HeaderRequestID is X-Request-Id; the transport sets a fresh UUID when
	// the request has none.
	HeaderRequestID = "X-Request-Id"
)

// TokenSource hands out Copilot tokens; *TokenManager is the implementation.
type TokenSource interface {
	Token(ctx context.Context) (*Token, error)
	Invalidate(value string)
}

// Transport is an http.RoundTripper for the Copilot API, shaped like
// golang.org/x/oauth2.Transport: it clones each request, routes it to the
// API of the current token, sets the Copilot token and the editor headers,
// refuses hosts the Endpoint does not allow, re-exchanges the token and
// retries once after a 401, bounds the silence inside a response body, and
// records the quota headers it sees. Redirects are never followed: a 3xx
// answer is returned as a *RedirectError. Requests are addressed to
// DefaultBaseURL (or Endpoint.BaseURL) plus the API path, e.g.
// "https://api.githubcopilot.com/chat/completions"; see Endpoint.Route.
//
// Errors: no token or no usable endpoint is an *UnavailableError; a
// response body that stays silent too long fails with *IdleTimeoutError.
type Transport struct {
	// Source supplies the Copilot token. Required.
	Source TokenSource
	// Base sends the requests; nil means http.DefaultTransport. Use
	// NewBaseTransport for a pool sized for many streams.
	Base http.RoundTripper
	// Endpoint says where requests go and which hosts may get the token.
	Endpoint Endpoint
	// Editor is the identity sent on every request; empty fields take the
	// defaults.
	Editor Editor
	// Quota, when set, records the x-quota-snapshot-* headers of every
	// response, observed at Now.
	Quota *QuotaTracker
	// IdleTimeout is the longest silence allowed while reading a response
	// body; zero means DefaultStreamIdleTimeout.
	IdleTimeout time.Duration
	// Logger gets a debug line per request and the 401 retries (never a
	// token).
	Logger zerolog.Logger
	// Now is the transport's clock; nil means time.Now.
	Now func() time.Time

	routes atomic.Pointer[router]   // see router
	ed     atomic.Pointer[identity] // see editor
	auth   atomic.Pointer[bearer]   // see bearerFor
}

// DefaultStreamIdleTimeout is the default silence allowed between two reads
// of an upstream response body.
const DefaultStreamIdleTimeout = 5 * time.Minute

// NewClient returns an http.Client that sends through t and never follows a
// redirect. It has no Timeout: streams may run for many minutes (the
// transport bounds silences instead).
func NewClient(t *Transport) *http.Client {
	return &http.Client{Transport: t, CheckRedirect: refuseRedirect}
}

// RoundTrip implements http.RoundTripper. It never modifies req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// Without GetBody the retry after a 401 would send an empty body.
		closeBody(req)
		return nil, fmt.Errorf("copilot: a request with a body needs GetBody (use http.NewRequest with a bytes.Reader)")
	}
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, asUnavailable(err)
	}
	// One id for the request and its retry, so both read as one in the logs
	// of either side.
	rid := req.Header.Get(HeaderRequestID)
	if rid == "" {
		rid = uuid.NewString()
	}
	resp, err := t.send(req, tok, req.Body, rid)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	return t.retry(req, tok, resp, rid)
}

// retry handles a 401: the Copilot token was revoked or expired early. The
// answer is drained a little so the connection can be reused, the token is
// invalidated, and the request is sent once more with a fresh one.
func (t *Transport) retry(req *http.Request, old *Token, resp *http.Response, rid string) (*http.Response, error) {
	// The token is bad whether or not this request can be replayed: the
	// next request must not meet the same 401.
	t.Source.Invalidate(old.Value)
	body := io.ReadCloser(http.NoBody)
	if req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return resp, nil // cannot replay: the 401 is the answer
		}
		body = b
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t.Logger.Info().Str("request_id", rid).Str("path", req.URL.Path).
		Msg("copilot upstream answered 401; retrying once with a new token")
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		body.Close()
		return nil, asUnavailable(err)
	}
	return t.send(req, tok, body, rid)
}

// send performs one exchange of a clone of req carrying body, with tok and
// the request id rid.
func (t *Transport) send(req *http.Request, tok *Token, body io.ReadCloser, rid string) (*http.Response, error) {
	target, err := t.router(tok).route(req.URL)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	// The clone's context is cancelled with an *IdleTimeoutError cause when
	// the body stays silent too long; see idleBody. Its header map is new
	// (sized for what setHeaders adds); the caller's values are shared, and
	// only ever replaced, never appended to.
	ctx, cancel := context.WithCancelCause(req.Context())
	out := req.WithContext(ctx)
	out.Header = make(http.Header, len(req.Header)+8)
	for k, v := range req.Header {
		out.Header[k] = v
	}
	out.URL, out.Host, out.Body = target, "", body
	t.setHeaders(out.Header, tok, rid)

	// The debug lines' arguments (two clock readings, a header lookup) are
	// only worked out when debug logging is on: this runs for every call.
	debug := t.Logger.Debug().Enabled()
	var start time.Time
	if debug {
		start = t.now()
	}
	resp, err := t.base().RoundTrip(out)
	if err != nil {
		cancel(nil)
		if debug {
			t.Logger.Debug().Str("request_id", rid).Str("path", target.Path).Err(err).Msg("copilot upstream request failed")
		}
		return nil, err
	}
	if debug {
		t.Logger.Debug().Str("request_id", rid).Str("path", target.Path).
			Int("status", resp.StatusCode).Dur("headers_after", t.now().Sub(start)).Msg("copilot upstream response")
	}
	if isRedirect(resp.StatusCode) {
		resp.Body.Close()
		cancel(nil)
		return nil, &RedirectError{Status: resp.StatusCode}
	}
	if t.Quota != nil {
		t.Quota.Observe(resp.Header, t.now())
	}
	resp.Body = newIdleBody(ctx, resp.Body, cancel, t.idle())
	return resp, nil
}

// setHeaders sets the token and the identity on a cloned header map. The
// caller's own Authorization, if any, is replaced: nothing of a client's
// credentials can reach Copilot.
func (t *Transport) setHeaders(h http.Header, tok *Token, rid string) {
	h["Authorization"] = t.bearerFor(tok)
	for k, v := range t.identity().api {
		h[k] = v
	}
	if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	h.Set(HeaderRequestID, rid)
}

// router returns the routing of requests for tok, compiled once per
// endpoints.api (tokens, and so their endpoints, change every half hour).
func (t *Transport) router(tok *Token) *router {
	api := ""
	if tok != nil {
		api = tok.APIURL
	}
	if r := t.routes.Load(); r != nil && r.apiURL == api {
		return r
	}
	r := t.Endpoint.router(tok)
	t.routes.Store(r)
	return r
}

// identity is the editor with defaults filled in, and the identity headers
// of every API call built from it once: every request's header map shares
// their value slices (never appended to, see send).
type identity struct {
	Editor
	api http.Header
}

// editor is the identity with defaults filled in, computed once.
func (t *Transport) editor() *Editor { return &t.identity().Editor }

func (t *Transport) identity() *identity {
	if id := t.ed.Load(); id != nil {
		return id
	}
	id := &identity{Editor: t.Editor.withDefaults(), api: http.Header{}}
	id.setAPIHeaders(id.api)
	t.ed.Store(id)
	return id
}

// bearer is the Authorization value of one token, built once per token
// rather than once per request.
type bearer struct {
	tok *Token
	v   []string
}

func (t *Transport) bearerFor(tok *Token) []string {
	if b := t.auth.Load(); b != nil && b.tok == tok {
		return b.v
	}
	b := &bearer{tok: tok, v: []string{"Bearer " + tok.Value}}
	t.auth.Store(b)
	return b.v
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) idle() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultStreamIdleTimeout
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// asUnavailable makes a token error an *UnavailableError (the token manager
// already returns one; a test double may not).
func asUnavailable(err error) error {
	if _, ok := err.(*UnavailableError); ok {
		return err
	}
	return &UnavailableError{Cause: err}
}

// RedirectError is a 3xx answer from GitHub or Copilot. Redirects are never
// followed: a second request would carry the token, or the prompt, to a
// place nobody configured.
type RedirectError struct {
	Status int
}

// Error names the status; the Location is left out (it is the upstream's
// text, and may carry anything).
func (e *RedirectError) Error() string {
	return fmt.Sprintf("the upstream answered %d %s (a redirect); redirects are not followed", e.Status, http.StatusText(e.Status))
}

// redirectOf returns the *RedirectError inside err, without the
// *url.Error around it that would quote the Location.
func redirectOf(err error) (*RedirectError, bool) {
	var re *RedirectError
	ok := errors.As(err, &re)
	return re, ok
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// refuseRedirect is the CheckRedirect of every client this package builds
// or is given: the 3xx response becomes an error instead of a second request.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	return &RedirectError{Status: status}
}

// noRedirects returns a copy of hc (nil: a client with timeout) that never
// follows a redirect.
func noRedirects(hc *http.Client, timeout time.Duration) *http.Client {
	if hc == nil {
		return &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect}
	}
	c := *hc
	c.CheckRedirect = refuseRedirect
	return &c
}

// trimBase drops a trailing slash and spaces from a base URL.
func trimBase(u string) string { return strings.TrimRight(strings.TrimSpace(u), "/") }
