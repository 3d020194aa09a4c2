package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/logging"
	"github.com/copilot-proxy/copilot-proxy/metrics"
)

// Aside is what ServeAside serves on its own address, apart from the API
// port: the Prometheus scrape (--metrics-addr) or the profiler
// (--pprof-addr).
type Aside struct {
	Name    string // "metrics" or "pprof", for logs
	Flag    string // the setting, for errors: "metrics-addr"
	Addr    string // host:port; "" serves nothing
	Handler http.Handler
}

// MetricsAside serves /metrics of m alone at addr.
func MetricsAside(addr string, m *metrics.Metrics) Aside {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", m.Handler())
	}
	return Aside{Name: "metrics", Flag: "metrics-addr", Addr: addr, Handler: mux}
}

// PprofAside serves net/http/pprof at addr, for `make profile`; it must be
// a loopback address (profiles show internals), which the cmd checks.
func PprofAside(addr string) Aside {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return Aside{Name: "pprof", Flag: "pprof-addr", Addr: addr, Handler: mux}
}

// ServeAside serves a on its own listener. The returned stop shuts it down
// and waits for it; with no address it does nothing.
func ServeAside(a Aside, logger zerolog.Logger) (stop func(), err error) {
	if a.Addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", a.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (--%s): %w", a.Addr, a.Flag, err)
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          logging.HTTPErrorLog(logger),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error().Err(err).Msg(a.Name + " listener stopped")
		}
	}()
	logger.Info().Str("addr", ln.Addr().String()).Msg(a.Name + " listening")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
