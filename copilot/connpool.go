package copilot

import (
	"context"
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
// tests); PooledTransport instead spreads requests over a few shards per
// host, each an *http.Transport holding one HTTP/2 connection while the
// server allows StreamsPerConn streams on it. A request goes to the
// busiest shard of its host with fewer than StreamsPerConn requests in
// flight; when every shard is that busy, a new shard (a new connection)
// opens. Packing rather than spreading: after a burst opened several
// shards, a steadier load keeps to the first ones and the others' idle
// connections close (IdleConnTimeout), at the cost of more streams
// sharing one connection's TCP window. (Go's strict mode, which would queue for a stream instead, left
// queued requests waiting forever in our tests; a server announcing fewer
// streams than StreamsPerConn gets Go's extra connections for the
// overflow.)
//
// A shard with nothing in flight may have no connection (none yet, or its
// idle one was closed), so the first request it gets then dials alone and
// the rest of a burst waits for that connection and shares it. Shards are
// per host because a connection serves one host: a request to GitHub must
// not open the gate for a burst to the Copilot host. Over HTTP/1.1 each
// shard is an ordinary connection pool.
type PooledTransport struct {
	cfg     BaseTransportConfig
	perConn int64
	mu      sync.Mutex
	shards  map[string][]*shard // by req.URL.Host
}

// shard is one *http.Transport and its requests in flight. Its fields
// other than t are guarded by PooledTransport.mu.
type shard struct {
	t        *http.Transport
	inflight int64
	gate     *gate // a fresh one whenever inflight drops to 0 (release)
}

// gate holds a shard's requests back until its first one has a connection.
type gate struct {
	ch      chan struct{}
	once    sync.Once
	claimed bool // guarded by PooledTransport.mu: a request is dialing for it
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

// open lets the waiting requests go; safe to call more than once.
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// wait blocks until the gate opens or ctx is done.
func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewPooledTransport returns a PooledTransport whose shards are
// NewBaseTransport(cfg) (without Go's strict HTTP/2 stream limits: see
// PooledTransport).
func NewPooledTransport(cfg BaseTransportConfig) *PooledTransport {
	per := int64(cfg.StreamsPerConn)
	if per <= 0 {
		per = DefaultStreamsPerConn
	}
	return &PooledTransport{cfg: cfg, perConn: per, shards: map[string][]*shard{}}
}

// RoundTrip sends req over the busiest shard of its host with a free slot
// (see PooledTransport).
func (p *PooledTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s, g, first := p.pick(req.URL.Host)
	if first {
		// The others wait for this request's connection, not its answer
		// (a non-stream answer comes after the whole generation).
		defer g.open()
		req = req.WithContext(httptrace.WithClientTrace(req.Context(),
			&httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { g.open() }}))
	} else if err := g.wait(req.Context()); err != nil {
		p.release(s)
		return nil, err
	}
	resp, err := s.t.RoundTrip(req)
	if err != nil {
		p.release(s)
		return nil, err
	}
	resp.Body = &shardBody{ReadCloser: resp.Body, p: p, s: s}
	return resp, nil
}

// pick takes a slot on the shard of host to use and returns the shard's
// gate; first reports that this request is the one to dial for the gate.
func (p *PooledTransport) pick(host string) (s *shard, g *gate, first bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.shards[host] {
		if c.inflight < p.perConn && (s == nil || c.inflight > s.inflight) {
			s = c
		}
	}
	if s == nil {
		s = &shard{t: NewBaseTransport(p.cfg), gate: newGate()}
		p.shards[host] = append(p.shards[host], s)
	}
	s.inflight++
	g = s.gate
	first = !g.claimed
	g.claimed = true
	return s, g, first
}

// release gives a slot back. A shard left with nothing in flight gets a
// fresh gate: its connection may close idle before the next request, and
// the next burst must then share one new connection, not dial one each.
func (p *PooledTransport) release(s *shard) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.inflight--; s.inflight == 0 {
		s.gate = newGate()
	}
}

// CloseIdleConnections closes the idle connections of every shard.
func (p *PooledTransport) CloseIdleConnections() {
	p.mu.Lock()
	var all []*shard
	for _, shards := range p.shards {
		all = append(all, shards...)
	}
	p.mu.Unlock()
	for _, s := range all {
		s.t.CloseIdleConnections()
	}
}

// Shards is how many shards (connections, over HTTP/2) were opened, over
// all hosts; a shard is never removed.
func (p *PooledTransport) Shards() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, shards := range p.shards {
		n += len(shards)
	}
	return n
}

// shardBody gives its shard's slot back once, when the body is closed or
// read to its end.
type shardBody struct {
	io.ReadCloser
	p    *PooledTransport
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
		b.p.release(b.s)
	}
}
