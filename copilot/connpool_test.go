package copilot_test

import (
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot"
	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// PooledTransport opens a connection per StreamsPerConn concurrent
// requests (a burst shares each new one), and gives a slot back when a
// body is closed, so later requests reuse the connections.
func TestPooledTransportShards(t *testing.T) {
	t.Parallel()
	fake := copilottest.New(t, copilottest.WithTLS(10))
	fake.SetLatency(200 * time.Millisecond) // the requests overlap
	pool := copilot.NewPooledTransport(copilot.BaseTransportConfig{StreamsPerConn: 10, RootCAs: fakeRoots(t, fake)})
	defer pool.CloseIdleConnections()
	client := &http.Client{Transport: pool}
	burst := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, err := client.Get(fake.URL() + "/models")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Errorf("proto %s", resp.Proto)
				}
			})
		}
		wg.Wait()
	}
	burst(35)
	if got := pool.Shards(); got != 4 {
		t.Errorf("35 concurrent requests at 10 per connection opened %d shards, want 4", got)
	}
	if got := fake.Connections(); got != 4 {
		t.Errorf("%d connections, want 4 (a burst shares each new one)", got)
	}
	burst(30) // the slots came back: no new connection
	if got := fake.Connections(); got != 4 {
		t.Errorf("after a second burst: %d connections, want still 4", got)
	}
}

func fakeRoots(t *testing.T, fake *copilottest.Server) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(fake.CACertPEM()) {
		t.Fatal("no certificate")
	}
	return pool
}
