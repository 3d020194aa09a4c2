package copilot

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
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
	// StreamsPerConn is PooledTransport's requests per connection before
	// it opens another; default DefaultStreamsPerConn.
	StreamsPerConn int
	// RootCAs are the authorities trusted for the upstream's certificate;
	// nil: the system's (--upstream-ca adds a file's to them).
	RootCAs *x509.CertPool
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
	t := &http.Transport{
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
		// Copilot speaks HTTP/2: many streams share a connection, and when
		// one is at the server's stream limit the next request opens
		// another (StrictMaxConcurrentRequests stays false).
		ForceAttemptHTTP2: true,
		HTTP2: &http.HTTP2Config{
			// Pings find a dead connection under a stream that waits for
			// a slow model, instead of the idle timeout much later.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
	if cfg.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return t
}

// LoadRootCAs returns the system's certificate authorities plus those in the
// PEM file at path (a corporate TLS-intercepting proxy's, or a test
// upstream's); an error when the file holds none.
func LoadRootCAs(path string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
