package main

import (
	"net/http"
	"net/http/pprof"

	"github.com/rs/zerolog"
)

// startPprof serves net/http/pprof on its own loopback listener when addr is
// set (--pprof-addr, off by default), for `make profile`. It is never on the
// API address; validate refuses a non-loopback one (profiles show
// internals). stop closes the listener.
func startPprof(addr string, logger zerolog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serveAside(addr, "pprof", "pprof-addr", mux, logger)
}
