package copilot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// DefaultBaseURL is the Copilot API used when the token names no endpoint.
const DefaultBaseURL = "https://api.githubcopilot.com"

// DefaultAllowedHost is the host pattern always allowed for endpoints.api.
const DefaultAllowedHost = "*.githubcopilot.com"

// DefaultStreamIdleTimeout is the default silence allowed between two reads of
// an upstream response body.
const DefaultStreamIdleTimeout = 5 * time.Minute

// TokenSource hands out Copilot tokens; *TokenManager is the implementation.
type TokenSource interface {
	Token(ctx context.Context) (*Token, error)
	Invalidate(value string)
}

// ClientConfig configures NewClient.
type ClientConfig struct {
	// HTTPClient sends the requests. It must have no Timeout: a timeout over
	// the whole request would kill long streams. Nil means
	// &http.Client{Transport: NewTransport(TransportConfig{})}.
	HTTPClient *http.Client
	// Tokens supplies the Copilot token. Required.
	Tokens TokenSource
	// BaseURL is an explicitly configured Copilot API base URL; it overrides
	// the token's endpoints.api and the allow-list.
	BaseURL string
	// AllowedHosts are host patterns, in addition to "*.githubcopilot.com",
	// that endpoints.api may name: an exact host ("copilot-api.example.ghe.com")
	// or "*." and a domain (any subdomain of it, not the domain itself).
	AllowedHosts []string
	// Editor is the identity sent on every request; empty fields take defaults.
	Editor Editor
	// StreamIdleTimeout is the longest silence allowed while reading a response
	// body, counted from the headers or from the last Read call. Zero means 5 min.
	StreamIdleTimeout time.Duration
	// Logger receives debug lines per request and the 401 retries (never a token).
	Logger zerolog.Logger
}

// Client sends requests to the Copilot API with the current token and the
// editor headers. It is safe for concurrent use.
type Client struct {
	hc      *http.Client
	tokens  TokenSource
	baseURL string
	allowed []string
	ed      Editor
	idle    time.Duration
	log     zerolog.Logger
}

// NewClient returns a Client. It panics if cfg.Tokens is nil (a wiring bug).
func NewClient(cfg ClientConfig) *Client {
	if cfg.Tokens == nil {
		panic("copilot: ClientConfig.Tokens is nil")
	}
	c := &Client{
		hc:      cfg.HTTPClient,
		tokens:  cfg.Tokens,
		baseURL: strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"),
		allowed: []string{DefaultAllowedHost},
		ed:      cfg.Editor.withDefaults(),
		idle:    cfg.StreamIdleTimeout,
		log:     cfg.Logger,
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport(TransportConfig{})}
	}
	if c.hc.Timeout != 0 {
		c.log.Warn().Stringer("timeout", c.hc.Timeout).
			Msg("copilot client: http.Client.Timeout is set and will cut long streams; use the transport's timeouts instead")
	}
	for _, h := range cfg.AllowedHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			c.allowed = append(c.allowed, h)
		}
	}
	if c.idle <= 0 {
		c.idle = DefaultStreamIdleTimeout
	}
	return c
}

// Request is one call to the Copilot API.
type Request struct {
	Method    string // "" means POST with a body, GET without
	Path      string // e.g. "/chat/completions", appended to the base URL
	Body      []byte // sent as is (replayable for the retry after a 401)
	Initiator string // X-Initiator: "user" or "agent"; "" omits the header
	Vision    bool   // send Copilot-Vision-Request: true (only when an image part is present)
	RequestID string // X-Request-Id; "" means a fresh UUID
	Accept    string // Accept; "" means application/json
}

// HostNotAllowedError refuses to send a Copilot token to the host a token
// response named in endpoints.api.
type HostNotAllowedError struct {
	URL    string // endpoints.api as received
	Host   string // its host ("" if unparsable)
	Reason string // why it was refused
}

// Error names the host and says how to allow it.
func (e *HostNotAllowedError) Error() string {
	return fmt.Sprintf("refusing to send the Copilot token to endpoints.api %q: %s; set --copilot-api-url to choose the Copilot API explicitly, or allow the host", e.URL, e.Reason)
}

// BaseURL returns the base URL Do uses with tok: the configured BaseURL if
// set; else tok.APIURL if it is https and its host is allowed (else a
// *HostNotAllowedError); else, when the token names none, DefaultBaseURL.
// The result has no trailing slash.
func (c *Client) BaseURL(tok *Token) (string, error) {
	if c.baseURL != "" {
		return c.baseURL, nil
	}
	if tok == nil || tok.APIURL == "" {
		return DefaultBaseURL, nil
	}
	raw := tok.APIURL
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", &HostNotAllowedError{URL: raw, Reason: "it is not an absolute URL"}
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme != "https":
		return "", &HostNotAllowedError{URL: raw, Host: host, Reason: "it is not https"}
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", &HostNotAllowedError{URL: raw, Host: host, Reason: "it has user info, a query or a fragment"}
	case !c.hostAllowed(host):
		return "", &HostNotAllowedError{URL: raw, Host: host,
			Reason: fmt.Sprintf("host %q is not in the allow-list (%s)", host, strings.Join(c.allowed, ", "))}
	}
	return strings.TrimRight(raw, "/"), nil
}

// hostAllowed matches host against the allow-list patterns.
func (c *Client) hostAllowed(host string) bool {
	for _, p := range c.allowed {
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// Do sends req with a token from the TokenSource. Token errors (usually
// *UnavailableError) and *HostNotAllowedError are returned as is. An upstream
// 401 invalidates the token and the request is retried once with a fresh one;
// a second 401 is returned as the response. The response body returns an
// *IdleTimeoutError, and the request is cancelled, when the upstream stays
// silent longer than StreamIdleTimeout. The caller must close the body.
func (c *Client) Do(ctx context.Context, req *Request) (*http.Response, error) {
	rid := req.RequestID
	if rid == "" {
		rid = newUUID()
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, tok, req, rid)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}

	// The Copilot token was revoked or expired early: drain a little so the
	// connection can be reused, get a new token, retry once.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	c.log.Info().Str("request_id", rid).Str("path", req.Path).
		Msg("copilot upstream answered 401; retrying once with a new token")
	c.tokens.Invalidate(tok.Value)
	tok, err = c.tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, tok, req, rid)
}

// send performs one HTTP exchange with a fresh header map: nothing of the
// gateway's client request (its Authorization above all) can leak upstream.
func (c *Client) send(ctx context.Context, tok *Token, req *Request, rid string) (*http.Response, error) {
	base, err := c.BaseURL(tok)
	if err != nil {
		return nil, err
	}
	path := req.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
		if req.Body != nil {
			method = http.MethodPost
		}
	}

	// The request context is cancelled with an *IdleTimeoutError cause when
	// the body stays silent too long; see idleBody.
	rctx, cancel := context.WithCancelCause(ctx)
	hreq, err := http.NewRequestWithContext(rctx, method, base+path, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("copilot: building request: %w", err)
	}
	// The body is sent from a reader that lets go of the bytes once they are
	// written, and GetBody (the transport's rewind for a retry on a reused
	// connection, only ever called before Do returns) lets go of them when
	// Do returns: the response keeps the request for the whole stream, and
	// so would keep the request body alive.
	reqBody := req.Body
	if reqBody != nil {
		hreq.ContentLength = int64(len(reqBody))
		hreq.Body = &onceBody{b: reqBody}
		hreq.GetBody = func() (io.ReadCloser, error) {
			if reqBody == nil {
				return nil, errors.New("copilot: request body already released")
			}
			return &onceBody{b: reqBody}, nil
		}
		if len(reqBody) == 0 {
			hreq.Body, hreq.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		}
	}
	h := hreq.Header
	h.Set("Authorization", "Bearer "+tok.Value)
	if req.Body != nil {
		h.Set("Content-Type", "application/json")
	}
	accept := req.Accept
	if accept == "" {
		accept = "application/json"
	}
	h.Set("Accept", accept)
	c.ed.setAPIHeaders(h)
	h.Set("X-Request-Id", rid)
	if req.Initiator != "" {
		h.Set("X-Initiator", req.Initiator)
	}
	if req.Vision {
		h.Set("Copilot-Vision-Request", "true")
	}

	start := time.Now()
	resp, err := c.hc.Do(hreq)
	reqBody = nil // GetBody is not called after Do returns
	if err != nil {
		cancel(nil)
		c.log.Debug().Str("request_id", rid).Str("method", method).Str("path", path).Err(err).
			Msg("copilot upstream request failed")
		return nil, err
	}
	c.log.Debug().Str("request_id", rid).Str("method", method).Str("path", path).
		Int("status", resp.StatusCode).Dur("headers_after", time.Since(start)).Msg("copilot upstream response")
	resp.Body = newIdleBody(rctx, resp.Body, cancel, c.idle)
	return resp, nil
}

// onceBody is a request body read once from a byte slice, dropping its
// reference to the slice when the whole of it has been read.
type onceBody struct {
	b []byte
}

func (o *onceBody) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		o.b = nil
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	if len(o.b) == 0 {
		o.b = nil
	}
	return n, nil
}

func (o *onceBody) Close() error { return nil }

// IdleTimeoutError is returned by a response body's Read when the upstream
// sent nothing for the configured StreamIdleTimeout; the request was cancelled.
type IdleTimeoutError struct {
	After time.Duration
}

// Error says how long the upstream was silent.
func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("upstream sent nothing for %s (stream idle timeout)", e.After)
}

// Timeout reports true, so the error reads as a net.Error timeout.
func (e *IdleTimeoutError) Timeout() bool { return true }

// Temporary is part of net.Error; an idle timeout is not temporary.
func (e *IdleTimeoutError) Temporary() bool { return false }

var _ net.Error = (*IdleTimeoutError)(nil)

// idleBody cancels the request when no Read call has made progress for idle.
// One timer per response, no goroutine: armed when the headers arrive and on
// each Read entry, stopped when Read returns, so only time spent waiting on
// the upstream (or not reading at all before the first Read) counts, not
// the caller's own pace.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer
	done   atomic.Bool // released: the timer must not be re-armed
	once   sync.Once
}

func newIdleBody(ctx context.Context, rc io.ReadCloser, cancel context.CancelCauseFunc, idle time.Duration) *idleBody {
	b := &idleBody{rc: rc, ctx: ctx, cancel: cancel, idle: idle}
	b.timer = time.AfterFunc(idle, func() { cancel(&IdleTimeoutError{After: idle}) })
	return b
}

// Read reads from the upstream body, mapping a cancellation caused by the
// idle timer to *IdleTimeoutError.
func (b *idleBody) Read(p []byte) (int, error) {
	if !b.done.Load() {
		b.timer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil {
		var ite *IdleTimeoutError
		if errors.As(context.Cause(b.ctx), &ite) {
			return n, ite
		}
		if err == io.EOF {
			b.release()
		}
	}
	return n, err
}

// Close closes the upstream body and releases the timer and the context.
func (b *idleBody) Close() error {
	err := b.rc.Close()
	b.release()
	return err
}

// release stops the timer and frees the request context, once.
func (b *idleBody) release() {
	b.once.Do(func() {
		b.done.Store(true)
		b.timer.Stop()
		b.cancel(nil)
	})
}

// TransportConfig sizes NewTransport. Zero fields take the defaults.
type TransportConfig struct {
	DialTimeout           time.Duration // default 10 s
	TLSHandshakeTimeout   time.Duration // default 10 s
	ResponseHeaderTimeout time.Duration // default 10 min (--upstream-timeout): a non-stream answer comes after the whole generation
	IdleConnTimeout       time.Duration // default 90 s
	MaxIdleConnsPerHost   int           // default 256: every concurrent request to Copilot may reuse a connection
	MaxConnsPerHost       int           // default 0 (no limit)
}

// Defaults of TransportConfig.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 10 * time.Minute
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConnsPerHost   = 256
)

// NewTransport returns a transport for the Copilot API: bounded dial, TLS and
// response-header waits but nothing bounding a whole body (streams are
// bounded by the idle timeout instead), a pool sized for many concurrent
// requests, HTTP/2 attempted, and proxies from the environment.
func NewTransport(cfg TransportConfig) *http.Transport {
	orDefault := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	idlePerHost := cfg.MaxIdleConnsPerHost
	if idlePerHost <= 0 {
		idlePerHost = DefaultMaxIdleConnsPerHost
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   orDefault(cfg.DialTimeout, DefaultDialTimeout),
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   orDefault(cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout: orDefault(cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		IdleConnTimeout:       orDefault(cfg.IdleConnTimeout, DefaultIdleConnTimeout),
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          0, // no global cap; the per-host cap is what matters
		MaxIdleConnsPerHost:   idlePerHost,
		MaxConnsPerHost:       max(cfg.MaxConnsPerHost, 0),
		ForceAttemptHTTP2:     true,
	}
}

// newUUID returns a random (version 4) UUID for X-Request-Id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
