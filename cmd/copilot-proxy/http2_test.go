package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// startTLSGateway runs serve against a fake Copilot over TLS with HTTP/2,
// trusting its certificate through --upstream-ca.
func startTLSGateway(t *testing.T, maxStreams int) (*copilottest.Server, *testGateway) {
	t.Helper()
	fake := copilottest.New(t, copilottest.WithTLS(maxStreams))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, fake.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return fake, startGateway(t, fake, map[string]string{"COPILOT_PROXY_UPSTREAM_CA": ca,
		"COPILOT_PROXY_GLOBAL_CONCURRENCY": "0", "COPILOT_PROXY_GLOBAL_RPM": "0"})
}

// streams runs n concurrent chat streams through g and checks each ends
// with [DONE].
func (g *testGateway) streams(t *testing.T, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			resp, err := g.client.Post(g.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "[DONE]") {
				errs <- resp.Status + " " + string(b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// Concurrent streams over an HTTP/2 upstream share few connections: 100
// fit on one (the server allows 250; the token exchange at start may
// have opened another), and 250 against a server allowing
// 100 per connection open a connection per 100, not one per stream.
func TestUpstreamHTTP2FewConnections(t *testing.T) {
	for _, tt := range []struct {
		maxStreams, streams int
		min, max            int
	}{
		{0, 100, 1, 2},   // Go's server default: 250 streams per connection
		{100, 250, 3, 4}, // at least three connections
	} {
		fake, g := startTLSGateway(t, tt.maxStreams)
		fake.SetStream(5, 20*time.Millisecond) // the streams overlap
		g.streams(t, tt.streams)
		if n := fake.Connections(); n < tt.min || n > tt.max {
			t.Errorf("max streams %d: %d upstream connections for %d streams, want %d to %d", tt.maxStreams, n, tt.streams, tt.min, tt.max)
		}
		for _, r := range fake.RequestsTo(copilottest.PathChat) {
			if r.Proto != "HTTP/2.0" {
				t.Fatalf("upstream request over %s, want HTTP/2.0", r.Proto)
			}
		}
	}
}

// Without --upstream-ca the fake's certificate is not trusted: the token
// exchange fails and requests get 503 rather than talking in clear.
func TestUpstreamCAFile(t *testing.T) {
	fake := copilottest.New(t, copilottest.WithTLS(0))
	g := startGateway(t, fake, nil)
	resp := g.chat(t, "", "", "gpt-4o")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("untrusted upstream: %d, want 503", resp.StatusCode)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	err := run(t.Context(), []string{"serve"}, envMap(map[string]string{
		"COPILOT_PROXY_UPSTREAM_CA": bad, "COPILOT_PROXY_GITHUB_TOKEN": copilottest.GitHubToken,
		"COPILOT_PROXY_NO_AUTH": "true", "COPILOT_PROXY_ADDR": "127.0.0.1:0", "HOME": t.TempDir(),
		"COPILOT_PROXY_DB": filepath.Join(t.TempDir(), "k.db")}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "upstream-ca") {
		t.Fatalf("bad CA file: %v", err)
	}
}
