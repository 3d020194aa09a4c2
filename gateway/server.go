// Package gateway serves the OpenAI API on top of Copilot: the routes, the
// chat handler with its SSE relay, models, embeddings, the admin API and
// health probes. It sends to Copilot through the *http.Client it is given
// (whose transport, copilot.Transport, adds the token), building plain
// requests to the API's base URL.
package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/api"
	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBody           int64 = 10 << 20
	DefaultKeepalive               = 15 * time.Second
	DefaultModelsTTL               = 5 * time.Minute
	DefaultBodyReadTimeout         = time.Minute
	DefaultStreamIdleTimeout       = 5 * time.Minute
)

// Config tunes the server; zero values take the defaults.
type Config struct {
	// MaxBody bounds a request body (413 over it); default 10 MiB.
	MaxBody int64
	// Keepalive is the upstream silence inside a stream after which a
	// ": ping" comment is sent (and again each Keepalive while silent), so
	// proxies and clients do not drop a long generation; default 15s, <0
	// disables.
	Keepalive time.Duration
	// ModelsTTL is how long the model list is cached; default 5m, <0 means
	// every request fetches (concurrent ones still share one fetch).
	ModelsTTL time.Duration
	// BodyReadTimeout bounds reading a request body once its headers are in;
	// default 60s.
	BodyReadTimeout time.Duration
	// StreamIdleTimeout is the longest an upstream stream may go without a
	// complete event (bytes that never end one do not count); the stream
	// then ends with an upstream_timeout error event. Plain silence is also
	// bounded by the transport (copilot.Transport.IdleTimeout); the cmd sets
	// both from --stream-idle-timeout. Default 5m, <0 disables.
	StreamIdleTimeout time.Duration
	// ModelAliases maps model ids clients send to Copilot's (--model-alias):
	// applied on every API before allow-lists and routing, and listed by
	// /v1/models next to the model they stand for.
	ModelAliases map[string]string
}

func (c Config) withDefaults() Config {
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.ModelsTTL == 0 {
		c.ModelsTTL = DefaultModelsTTL
	}
	if c.BodyReadTimeout <= 0 {
		c.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if c.StreamIdleTimeout == 0 {
		c.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	return c
}

// Deps are the server's dependencies.
type Deps struct {
	Logger zerolog.Logger
	// Upstream sends requests to the Copilot API: a copilot.Transport, which
	// adds the token and the editor identity and answers a redirect with an
	// error. Required. A transport, not an *http.Client: a client's timeout
	// would cut long streams, and its redirect handling copied every
	// request's headers for redirects that never come.
	Upstream http.RoundTripper
	// UpstreamURL is the base URL requests are addressed to; "" means
	// copilot.DefaultBaseURL, which the transport routes to the API of the
	// current token.
	UpstreamURL string
	// Ready reports the readiness conditions the gateway cannot check itself
	// (the Copilot token); /readyz adds the key store and shutdown ones. A
	// nil func adds none.
	Ready func() []Condition
	// Now is the server's clock, for all of its time (model cache, upstream
	// timings, access log, keep-alives, metrics); nil is time.Now.
	Now    func() time.Time
	Config Config

	// Keys is the client key store: it authenticates callers, records their
	// usage and backs the admin API. Nil means no keys (single-user mode).
	Keys *keys.Store
	// NoAuth serves the OpenAI routes without client keys even when Keys is
	// set (the cmd allows it only on loopback).
	NoAuth bool
	// LocalOnly refuses, on every route, requests addressed to another Host
	// than localhost, a loopback address or ListenAddr, and requests with an
	// Origin other than a loopback one (see middleware.LocalOnly): without
	// client keys, web pages must not reach the gateway. The cmd sets it with
	// --no-auth.
	LocalOnly bool
	// ListenAddr is the configured listen address, accepted as a Host when
	// LocalOnly is set.
	ListenAddr string
	// ClientIP returns a request's client address (see
	// middleware.NewClientIP): what the failed-authentication throttles of
	// client keys, the admin token and the console count by (unless
	// AuthConfig.ClientIP is set), what the access log records as remote,
	// and, with LocalOnly, an address that must be a loopback one. Nil
	// means the host of r.RemoteAddr, and LocalOnly then checks no address.
	ClientIP func(*http.Request) string
	// AuthConfig tunes the client-key check (failed attempts per address).
	AuthConfig middleware.AuthConfig
	// Limiter enforces per-key and global limits; nil means none.
	Limiter *middleware.Limiter
	// Budgets enforces the credit budgets of keys and of the gateway; nil
	// means none.
	Budgets *middleware.Budgets
	// QuotaReset returns the account's next quota reset date (zero when
	// unknown), which monthly budget periods follow; nil: calendar months.
	QuotaReset func() time.Time
	// AdminToken enables /admin/* for callers presenting it; "" disables it.
	AdminToken string
	// NoConsole turns the web console off (it is on whenever there is a
	// key store).
	NoConsole bool
	// ConsoleSessionLifetime is how long a web console sign-in lasts; 0
	// means console.DefaultLifetime (12 h). The console (/console/) is
	// served with a key store unless NoAuth is set without AdminToken, and
	// answers 404 while there is neither an admin token nor a client key.
	ConsoleSessionLifetime time.Duration
	// Quota returns the account's quota as last seen (GET /v1/usage/quota
	// sends it as JSON); nil leaves that route out.
	Quota func() any

	// Metrics, when set, records every request (see metrics.go); nil turns
	// metrics off at no cost.
	Metrics *metrics.Metrics
	// ServeMetrics serves Metrics at GET /metrics on this handler (behind the
	// admin token when one is set). Off, metrics are still recorded and the
	// cmd may serve them on another listener.
	ServeMetrics bool
}

// Server is the gateway's http.Handler. It holds what outlives a request:
// the model cache and the draining flag; each handler gets only the parts
// it uses (see routes.go).
type Server struct {
	handler  http.Handler // mux under the detacher
	mux      http.Handler
	detacher *middleware.Detacher // streams relayed off net/http's goroutines
	models   *modelCache
	draining atomic.Bool

	// life is the server's lifetime: shared model fetches run under it and
	// end when Close cancels it. It carries the server's logger.
	life context.Context
	stop context.CancelFunc
}

// NewServer builds the server and its routes. d.Upstream is required.
func NewServer(d Deps) *Server {
	if d.Upstream == nil {
		panic("gateway: Deps.Upstream is nil")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg := d.Config.withDefaults()
	s := &Server{}
	s.life, s.stop = context.WithCancel(middleware.WithLogger(context.Background(), d.Logger))
	up := newUpstream(d.Upstream, d.UpstreamURL, d.Now)
	s.models = newModelCache(s.life, up, cfg.ModelsTTL, d.Now)
	s.models.aliases = cfg.ModelAliases
	s.mux = s.routes(d, cfg, up)
	s.detacher = middleware.NewDetacher(d.Now)
	s.handler = s.detacher.Middleware(s.mux)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Routes is the route tree, for tools and tests that walk it (chi.Walk):
// the OpenAPI contract test checks it against openapi.yaml.
func (s *Server) Routes() chi.Routes {
	rt, _ := s.mux.(chi.Routes)
	return rt
}

// Models returns the model list (see modelCache.list); the cmd fetches it
// once at start so the metrics' model label knows the models.
func (s *Server) Models(ctx context.Context) ([]api.Model, error) {
	return s.models.list(ctx)
}

// Close cancels the server's background work (shared model fetches, the
// watch for clients leaving detached streams). Call
// it once the HTTP server has drained. It is safe to call more than once.
func (s *Server) Close() {
	s.stop()
	s.detacher.Close()
}

// SetDraining makes readiness report 503 "shutting down" from now on, so a
// load balancer stops sending new requests while in-flight ones finish.
func (s *Server) SetDraining() {
	s.draining.Store(true)
}
