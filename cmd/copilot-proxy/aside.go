package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/copilot-proxy/copilot-proxy/logging"
	"github.com/rs/zerolog"
)

// serveAside serves h on its own listener at addr, apart from the API port
// (--metrics-addr, --pprof-addr). what names it in logs ("metrics"), flagName
// the setting in errors. The returned stop shuts the listener down and waits
// for it.
func serveAside(addr, what, flagName string, h http.Handler, logger zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (--%s): %w", addr, flagName, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          logging.HTTPErrorLog(logger),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error().Err(err).Msg(what + " listener stopped")
		}
	}()
	logger.Info().Str("addr", ln.Addr().String()).Msg(what + " listening")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
