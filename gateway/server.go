// Package gateway serves the OpenAI API on top of Copilot: the routes, the
// chat handler with its SSE relay, models, embeddings and health probes.
// It gets the upstream as the small Upstream interface it declares, so it
// does not depend on the copilot package.
package gateway

import (
	"bufio"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/gateway/keys"
	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBody   int64 = 10 << 20
	DefaultKeepalive       = 15 * time.Second
	DefaultModelsTTL       = 5 * time.Minute
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
	return c
}

// Deps are the server's dependencies.
type Deps struct {
	Logger   zerolog.Logger
	Upstream Upstream
	// Ready reports readiness: nil means a valid Copilot token is held; an
	// error's text is the reason. A nil func is always ready.
	Ready func() error
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
}

// Server is the gateway's http.Handler.
type Server struct {
	logger   zerolog.Logger
	up       Upstream
	ready    func() error
	now      func() time.Time
	cfg      Config
	draining atomic.Bool
	handler  http.Handler
	// readers recycles the bufio.Readers of stream relays.
	readers sync.Pool
	// tails recycles the buffers that keep the end of non-stream bodies.
	tails  sync.Pool
	models modelCache

	keys       *keys.Store
	auth       middleware.Authenticator // nil: no client auth
	authCfg    middleware.AuthConfig
	limiter    *middleware.Limiter
	adminToken string
	quota      func() any
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
	}
	if d.Keys != nil && !d.NoAuth {
		s.auth = keyAuthenticator{d.Keys}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.readers.New = func() any { return bufio.NewReaderSize(nil, relayBufferSize) }
	s.tails.New = func() any { return new(tailReader) }
	s.handler = s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// SetDraining makes readiness report 503 "shutting down" from now on, so a
// load balancer stops sending new requests while in-flight ones finish.
func (s *Server) SetDraining() {
	s.draining.Store(true)
}
