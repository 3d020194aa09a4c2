package main

import (
	"context"
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
// token, drops the /v1 prefix and flushes at once. No auth, limits, logging or refresh.
func runBaseline(upstream, addr, ghToken string, tuned bool) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -upstream %q", upstream)
	}
	tok, err := exchange(http.DefaultClient, upstream, ghToken)
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Copilot's paths have no /v1 prefix.
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/v1")
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Set("Authorization", "Bearer "+tok)
		},
		FlushInterval: -1,
	}
	if tuned {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		rp.Transport = tr
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
