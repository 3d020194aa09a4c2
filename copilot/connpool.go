package copilot

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
)

// DefaultStreamsPerConn is how many requests PooledTransport sends over one
// HTTP/2 connection before it opens another: 100, the stream limit HTTP/2
// servers commonly announce (Go's own allows 250).
const DefaultStreamsPerConn = 100

// PooledTransport is the Copilot API's network transport for many
// concurrent streams over HTTP/2. Go's transport, when a connection is at
// the server's stream limit, dials a new connection for every request
// that arrives meanwhile (a burst of 100 opened some 60 connections in our
// tests); PooledTransport instead spreads requests over a few shards, each
// an *http.Transport holding one HTTP/2 connection while the server allows
// StreamsPerConn streams on it. A request goes to the least busy shard with
// fewer than StreamsPerConn requests in flight; when every shard is that
// busy, a new shard (a new connection) opens. (Go's strict mode, which
// would queue for a stream instead, left queued requests waiting forever in
// our tests; a server announcing fewer streams than StreamsPerConn gets
// Go's extra connections for the overflow.) A new shard's
// first request dials alone, so a burst shares its one connection. Over HTTP/1.1 each
// shard is an ordinary connection pool.
type PooledTransport struct {
	cfg      BaseTransportConfig
	perConn  int64
	mu       sync.Mutex
	shards   []*shard
	openings atomic.Int64 // shards opened, for tests and metrics
}

type shard struct {
	t        *http.Transport
	inflight atomic.Int64
	ready    chan struct{} // closed once the first request has a connection
	once     sync.Once
}

// NewPooledTransport returns a PooledTransport whose shards are
// NewBaseTransport(cfg) with strict HTTP/2 stream limits.
func NewPooledTransport(cfg BaseTransportConfig) *PooledTransport {
	per := int64(cfg.StreamsPerConn)
	if per <= 0 {
		per = DefaultStreamsPerConn
	}
	return &PooledTransport{cfg: cfg, perConn: per}
}

// RoundTrip sends req over the least busy shard (see PooledTransport).
func (p *PooledTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s, first := p.pick()
	if !first {
		select {
		case <-s.ready:
		case <-req.Context().Done():
			s.inflight.Add(-1)
			return nil, req.Context().Err()
		}
	}
	if first {
		// The others wait for this request's connection, not its answer
		// (a non-stream answer comes after the whole generation).
		open := func() { s.once.Do(func() { close(s.ready) }) }
		defer open()
		req = req.WithContext(httptrace.WithClientTrace(req.Context(),
			&httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { open() }}))
	}
	resp, err := s.t.RoundTrip(req)
	if err != nil {
		s.inflight.Add(-1)
		return nil, err
	}
	resp.Body = &shardBody{ReadCloser: resp.Body, s: s}
	return resp, nil
}

// pick takes a slot on the shard to use; first reports a new shard whose
// first request this is.
func (p *PooledTransport) pick() (s *shard, first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *shard
	for _, c := range p.shards {
		if n := c.inflight.Load(); n < p.perConn && (best == nil || n < best.inflight.Load()) {
			best = c
		}
	}
	if best == nil {
		best = &shard{t: NewBaseTransport(p.cfg), ready: make(chan struct{})}
		p.shards = append(p.shards, best)
		p.openings.Add(1)
		first = true
	}
	best.inflight.Add(1)
	return best, first
}

// CloseIdleConnections closes the idle connections of every shard.
func (p *PooledTransport) CloseIdleConnections() {
	p.mu.Lock()
	shards := append([]*shard(nil), p.shards...)
	p.mu.Unlock()
	for _, s := range shards {
		s.t.CloseIdleConnections()
	}
}

// Shards is how many shards (connections, over HTTP/2) were opened.
func (p *PooledTransport) Shards() int { return int(p.openings.Load()) }

// shardBody gives its shard's slot back once, when the body is closed or
// read to its end.
type shardBody struct {
	io.ReadCloser
	s    *shard
	done atomic.Bool
}

func (b *shardBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *shardBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func (b *shardBody) release() {
	if b.done.CompareAndSwap(false, true) {
		b.s.inflight.Add(-1)
	}
}
