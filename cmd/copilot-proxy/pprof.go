package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// startPprof serves net/http/pprof on its own loopback listener when addr is
// set (--pprof-addr, off by default), for `make profile`. It is never on the
// API address, and refuses a non-loopback address: profiles show internals.
// stop closes the listener.
func startPprof(addr string, logger zerolog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if !isLoopbackAddr(addr) {
		return nil, fmt.Errorf("%w: invalid --pprof-addr (%s): must be a loopback address such as 127.0.0.1:6060", errUsage, envName("pprof-addr"))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (--pprof-addr): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn().Err(err).Msg("pprof listener stopped")
		}
	}()
	logger.Info().Str("addr", ln.Addr().String()).Msg("serving pprof (--pprof-addr)")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
