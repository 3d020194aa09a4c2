//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/copilot-proxy/copilot-proxy/copilot"
)

// runBaseline is the floor every Go proxy is compared with: exchange the
// GitHub token once, then a bare httputil.ReverseProxy that sets the Copilot
// token, drops the /v1 prefix (except from /v1/messages, Copilot's own path
// for the Anthropic API) and flushes at once. No auth, limits, logging or
// refresh. With caFile it trusts that PEM for the upstream's TLS (the fake
// over HTTP/2): Go's default transport otherwise, which attempts HTTP/2.
func runBaseline(upstream, caFile, addr, ghToken string, tuned bool) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -upstream %q", upstream)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("%s: no certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.ForceAttemptHTTP2 = true
	}
	if tuned {
		tr.MaxIdleConnsPerHost = 256
	}
	tok, err := exchange(&http.Client{Transport: tr}, upstream, ghToken)
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Copilot's paths have no /v1 prefix, but for /v1/messages.
			if p := pr.In.URL.Path; !strings.HasPrefix(p, "/v1/messages") {
				pr.Out.URL.Path = strings.TrimPrefix(p, "/v1")
			}
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Set("Authorization", "Bearer "+tok)
		},
		FlushInterval: -1,
		Transport:     tr,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// exchange gets a Copilot token for the GitHub token, with the project's
// own exchange (the baseline differs from copilot-proxy only in how it
// serves requests, not in how it gets its token).
func exchange(c *http.Client, base, ghToken string) (string, error) {
	tok, err := copilot.NewAuth(c, base, ghToken, copilot.DefaultEditor()).Exchange(context.Background())
	if err != nil {
		return "", err
	}
	return tok.Value, nil
}
