package copilot

import (
	"net"
	"net/http"
	"time"
)

// BaseTransportConfig sizes NewBaseTransport. Zero fields take the defaults.
type BaseTransportConfig struct {
	DialTimeout           time.Duration // default 10 s
	TLSHandshakeTimeout   time.Duration // default 10 s
	ResponseHeaderTimeout time.Duration // default 10 min (--upstream-timeout): a non-stream answer comes after the whole generation
	IdleConnTimeout       time.Duration // default 90 s
	MaxIdleConnsPerHost   int           // default 256: every concurrent request to Copilot may reuse a connection
	MaxConnsPerHost       int           // default 0 (no limit)
}

// Defaults of BaseTransportConfig.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 10 * time.Minute
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConnsPerHost   = 256
)

// NewBaseTransport returns the network transport for the Copilot API: bounded dial, TLS and
// response-header waits but nothing bounding a whole body (streams are
// bounded by the idle timeout instead), a pool sized for many concurrent
// requests, HTTP/2 attempted, and proxies from the environment.
func NewBaseTransport(cfg BaseTransportConfig) *http.Transport {
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
