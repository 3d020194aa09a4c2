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
	burst := func(n int) { burstGet(t, pool, fake.URL()+"/models", n) }
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

// burstGet sends n concurrent GETs to url over pool, reads and closes
// each body, and checks each went over HTTP/2.
func burstGet(t *testing.T, pool http.RoundTripper, url string, n int) {
	t.Helper()
	client := &http.Client{Transport: pool}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := client.Get(url)
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

// A shard with nothing in flight may have no connection, so a burst after
// a quiet spell shares one new connection per shard again: after a request
// to another host (at start, the token exchange to GitHub), and after the
// idle connections were closed (what IdleConnTimeout does after 90 s).
func TestPooledTransportBurstAfterQuiet(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		quiet func(t *testing.T, pool *copilot.PooledTransport, fake, other *copilottest.Server)
		want  int // connections to fake after the quiet spell and a burst of 30
	}{
		{"request to another host", func(t *testing.T, pool *copilot.PooledTransport, _, other *copilottest.Server) {
			burstGet(t, pool, other.URL()+"/models", 1)
		}, 3},
		{"idle connections closed", func(t *testing.T, pool *copilot.PooledTransport, fake, _ *copilottest.Server) {
			burstGet(t, pool, fake.URL()+"/models", 30)
			pool.CloseIdleConnections()
		}, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t, copilottest.WithTLS(10))
			other := copilottest.New(t, copilottest.WithTLS(10))
			fake.SetLatency(200 * time.Millisecond) // the requests overlap
			pool := copilot.NewPooledTransport(copilot.BaseTransportConfig{StreamsPerConn: 10, RootCAs: fakeRoots(t, fake, other)})
			defer pool.CloseIdleConnections()
			tt.quiet(t, pool, fake, other)
			burstGet(t, pool, fake.URL()+"/models", 30)
			if got := fake.Connections(); got != tt.want {
				t.Errorf("%d connections, want %d (each burst of 30 at 10 per connection opens 3)", got, tt.want)
			}
		})
	}
}

func fakeRoots(t *testing.T, fakes ...*copilottest.Server) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, fake := range fakes {
		if !pool.AppendCertsFromPEM(fake.CACertPEM()) {
			t.Fatal("no certificate")
		}
	}
	return pool
}
