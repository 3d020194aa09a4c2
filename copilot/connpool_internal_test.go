package copilot

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copilot-proxy/copilot-proxy/copilot/copilottest"
)

// Every way a request through PooledTransport ends gives its slot back: a
// leaked slot would make later requests open new shards (connections)
// without limit.
func TestPooledTransportGivesSlotsBack(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, p *PooledTransport, fake *copilottest.Server) (host string)
	}{
		{"cancelled while waiting for the first request's connection", func(t *testing.T, p *PooledTransport, fake *copilottest.Server) string {
			req := newGet(t, fake.URL()+"/models")
			dialing, _, _ := p.pick(req.URL.Host) // holds the gate shut
			ctx, cancel := context.WithCancel(req.Context())
			cancel()
			if _, err := p.RoundTrip(req.WithContext(ctx)); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled request: %v, want context.Canceled", err)
			}
			p.release(dialing)
			return req.URL.Host
		}},
		{"dial error", func(t *testing.T, p *PooledTransport, _ *copilottest.Server) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close() // nothing listens there now
			concurrently(5, func() {
				if resp, err := p.RoundTrip(newGet(t, "https://"+addr+"/models")); err == nil {
					resp.Body.Close()
					t.Error("request to a closed port succeeded")
				}
			})
			return addr
		}},
		{"no answer before the deadline", func(t *testing.T, p *PooledTransport, fake *copilottest.Server) string {
			fake.SetLatency(time.Minute) // longer than the deadline
			concurrently(5, func() {
				req := newGet(t, fake.URL()+"/models")
				ctx, cancel := context.WithTimeout(req.Context(), 100*time.Millisecond)
				defer cancel()
				if resp, err := p.RoundTrip(req.WithContext(ctx)); err == nil {
					resp.Body.Close()
					t.Error("hanging request succeeded")
				}
			})
			return hostOf(fake)
		}},
		{"body closed without reading", func(t *testing.T, p *PooledTransport, fake *copilottest.Server) string {
			concurrently(5, func() {
				resp, err := p.RoundTrip(newGet(t, fake.URL()+"/models"))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			})
			return hostOf(fake)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := copilottest.New(t, copilottest.WithTLS(0))
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(fake.CACertPEM())
			p := NewPooledTransport(BaseTransportConfig{StreamsPerConn: 10, RootCAs: roots})
			defer p.CloseIdleConnections()
			host := tt.run(t, p, fake)
			if n := inflight(p); n != 0 {
				t.Errorf("%d slots still taken, want 0", n)
			}
			// A follow-up burst of StreamsPerConn fits the shard already open.
			shards := p.Shards()
			var taken []*shard
			for range 10 {
				s, _, _ := p.pick(host)
				taken = append(taken, s)
			}
			if p.Shards() != shards {
				t.Errorf("a follow-up burst of 10 opened a shard (%d, was %d)", p.Shards(), shards)
			}
			for _, s := range taken {
				p.release(s)
			}
		})
	}
}

// hostOf is the fake's host:port, as a request's URL.Host has it.
func hostOf(fake *copilottest.Server) string {
	return strings.TrimPrefix(fake.URL(), "https://")
}

func newGet(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// concurrently runs fn n times at once and waits for all.
func concurrently(n int, fn func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(fn)
	}
	wg.Wait()
}

// inflight is the slots taken over all of p's shards.
func inflight(p *PooledTransport) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, shards := range p.shards {
		for _, s := range shards {
			n += s.inflight
		}
	}
	return n
}

// A request goes to the busiest shard with a free slot, so after a burst
// opened several shards a lighter load keeps to one and the others' idle
// connections can close.
func TestPooledTransportPacksShards(t *testing.T) {
	t.Parallel()
	p := NewPooledTransport(BaseTransportConfig{StreamsPerConn: 10})
	var burst []*shard
	for range 20 {
		s, _, _ := p.pick("h")
		burst = append(burst, s)
	}
	for _, s := range burst {
		p.release(s)
	}
	if p.Shards() != 2 {
		t.Fatalf("a burst of 20 at 10 per shard opened %d shards, want 2", p.Shards())
	}
	first, _, _ := p.pick("h")
	defer p.release(first)
	for range 5 {
		s, _, _ := p.pick("h")
		if s != first {
			t.Errorf("a light load was spread over the shards")
		}
		defer p.release(s)
	}
}
