package gateway

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/middleware"
)

// ServeConfig tunes Serve.
type ServeConfig struct {
	// ReadHeaderTimeout cuts clients slow to send their headers.
	ReadHeaderTimeout time.Duration
	// ShutdownTimeout is how long in-flight requests and streams may take to
	// finish once ctx ends.
	ShutdownTimeout time.Duration
	// ErrorLog gets net/http's own errors (TLS handshakes, broken
	// connections).
	ErrorLog *log.Logger
	// Logger gets the drain's lines.
	Logger zerolog.Logger
	// Wrap, when set, wraps the server's handler, outermost: every
	// response goes through it (the demo command marks each one).
	Wrap func(http.Handler) http.Handler
}

// cutGrace bounds the wait for handlers cut at the drain timeout: they
// only have to notice their cancelled context and return.
const cutGrace = 5 * time.Second

// Serve serves s on ln until ctx ends (SIGINT/SIGTERM), then drains:
// readiness turns 503, no new connections are taken, and in-flight
// requests and streams get ShutdownTimeout to finish before their
// connections are closed. It returns once every handler has returned (or
// cutGrace after the cut), so usage recorded by the handlers is complete.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cfg ServeConfig) error {
	var inflight atomic.Int64
	var h http.Handler = s
	if cfg.Wrap != nil {
		h = cfg.Wrap(s)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			h.ServeHTTP(w, r)
		}),
		// There is deliberately no WriteTimeout, which would cut long
		// streams.
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          cfg.ErrorLog,
	}
	// A stream relayed on its own goroutine gives its connection back for
	// the client's next request (keep-alive), see middleware.Detacher.
	// It waits for that request as net/http's own idle connections do.
	idle := srv.IdleTimeout
	if idle == 0 {
		idle = srv.ReadTimeout
	}
	s.detacher.SetRejoin(middleware.Rejoin(srv), idle)
	srv.RegisterOnShutdown(s.detacher.Drain)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	s.SetDraining()
	cfg.Logger.Info().Str("timeout", cfg.ShutdownTimeout.String()).Msg("shutting down: no new connections, draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// net/http's drain does not see the streams relayed on their own
	// goroutines (see middleware.Detacher): they are waited for after it.
	err := srv.Shutdown(sctx)
	if err == nil {
		err = s.detacher.Wait(sctx)
	}
	if err != nil {
		cfg.Logger.Warn().Int64("in_flight", inflight.Load()+int64(s.detacher.InFlight())).Msg("drain timeout reached; closing the remaining connections")
		_ = srv.Close()
		s.detacher.Cancel()
		// Closing the connections cancels the requests' contexts; give their
		// handlers a moment to return so their usage is recorded.
		waitIdle(&inflight, cutGrace)
		gctx, stop := context.WithTimeout(context.Background(), cutGrace)
		_ = s.detacher.Wait(gctx)
		stop()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		cfg.Logger.Error().Err(err).Msg("server error during shutdown")
	}
	return nil
}

// waitIdle waits until n is zero or max has passed (wall time: it only
// bounds a shutdown).
func waitIdle(n *atomic.Int64, max time.Duration) {
	deadline := time.Now().Add(max)
	for n.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
