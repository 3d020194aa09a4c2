// Package gateway serves the OpenAI API on top of Copilot: the routes, the
// chat handler with its SSE relay, models, embeddings and health probes.
// It gets the upstream as the small Upstream interface it declares, so it
// does not depend on the copilot package.
package gateway

import (
	"bufio"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/metrics"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBody         int64 = 10 << 20
	DefaultKeepalive             = 15 * time.Second
	DefaultModelsTTL             = 5 * time.Minute
	DefaultBodyReadTimeout       = time.Minute
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
	return c
}

// Deps are the server's dependencies.
type Deps struct {
	Logger   zerolog.Logger
	Upstream Upstream
	// Ready reports the readiness conditions the gateway cannot check itself
	// (the Copilot token); /readyz adds the key store and shutdown ones. A
	// nil func adds none.
	Ready func() []Condition
	// Now is the clock for the model cache and upstream timings; nil is
	// time.Now.
	Now    func() time.Time
	Config Config

	// Keys is the client key store: it authenticates callers, records their
	// usage and backs the admin API. Nil means no keys (single-user mode).
	Keys *keys.Store
	// NoAuth serves the OpenAI routes without client keys even when Keys is
	// set (the cmd allows it only on loopback).
	NoAuth bool
	// AuthConfig tunes the client-key check (failed attempts per address).
	AuthConfig middleware.AuthConfig
	// Limiter enforces per-key and global limits; nil means none.
	Limiter *middleware.Limiter
	// AdminToken enables /admin/* for callers presenting it; "" disables it.
	AdminToken string
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

// Server is the gateway's http.Handler.
type Server struct {
	logger   zerolog.Logger
	up       Upstream
	ready    func() []Condition
	now      func() time.Time
	cfg      Config
	draining atomic.Bool
	handler  http.Handler
	// readers recycles the bufio.Readers of stream relays.
	readers sync.Pool
	// tails recycles the buffers that keep the end of non-stream bodies.
	tails  sync.Pool
	models modelCache
	// modelsTried is when the metrics labels last started a background
	// refresh of the model list (unix nanoseconds).
	modelsTried atomic.Int64

	keys       *keys.Store
	auth       middleware.Authenticator // nil: no client auth
	authCfg    middleware.AuthConfig
	limiter    *middleware.Limiter
	adminToken string
	quota      func() any

	metrics      *metrics.Metrics
	serveMetrics bool
	keysCheck    keysCheck

	// life is the server's lifetime: background work (the metrics' model
	// list refresh, shared model fetches) runs under it and ends when Close
	// cancels it. It carries the server's logger. bg tracks that work.
	life context.Context
	stop context.CancelFunc
	bg   sync.WaitGroup
}

// NewServer builds the server and its routes. d.Upstream is required.
func NewServer(d Deps) *Server {
	if d.Upstream == nil {
		panic("gateway: Deps.Upstream is nil")
	}
	s := &Server{
		logger: d.Logger,
		up:     d.Upstream,
		ready:  d.Ready,
		now:    d.Now,
		cfg:    d.Config.withDefaults(),

		keys:       d.Keys,
		authCfg:    d.AuthConfig,
		limiter:    d.Limiter,
		adminToken: d.AdminToken,
		quota:      d.Quota,

		metrics:      d.Metrics,
		serveMetrics: d.ServeMetrics && d.Metrics != nil,
	}
	if d.Keys != nil && !d.NoAuth {
		s.auth = keyAuthenticator{d.Keys}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.life, s.stop = context.WithCancel(middleware.WithLogger(context.Background(), d.Logger))
	s.readers.New = func() any { return bufio.NewReaderSize(nil, relayBufferSize) }
	s.tails.New = func() any { return new(tailReader) }
	s.handler = s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Routes is the route tree, for tools and tests that walk it (chi.Walk):
// the OpenAPI contract test checks it against openapi.yaml.
func (s *Server) Routes() chi.Routes {
	rt, _ := s.handler.(chi.Routes)
	return rt
}

// Close stops the server's background work (a model list refresh started
// for the metrics labels, shared model fetches) and waits for it. Call it
// once the HTTP server has drained: requests still being served lose their
// model fetches. It is safe to call more than once.
func (s *Server) Close() {
	s.stop()
	s.bg.Wait()
}

// SetDraining makes readiness report 503 "shutting down" from now on, so a
// load balancer stops sending new requests while in-flight ones finish.
func (s *Server) SetDraining() {
	s.draining.Store(true)
}
