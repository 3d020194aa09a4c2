package middleware

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Keep-alive for detached responses: the connection of a stream that ended
// cleanly waits for the client's next request, then goes back to the server.

// SetRejoin sets how the connection of a detached response that ended
// cleanly goes back to the server once the client's next request arrives
// (it waits at most idle; 0: no limit): rejoin serves the connection's
// requests and reports whether it took it (false: the connection is
// closed, e.g. while the server shuts down). Without it, detached responses
// close their connection.
func (d *Detacher) SetRejoin(rejoin func(net.Conn) bool, idle time.Duration) {
	d.mu.Lock()
	d.keepIdle = idle
	d.mu.Unlock()
	d.rejoin.Store(&rejoin)
}

// mayRejoin reports whether a connection may go back to the server: there
// is a way back and no drain began.
func (d *Detacher) mayRejoin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rejoin.Load() != nil && !d.draining
}

// Drain closes the idle connections kept for a next request, and keeps
// every connection from going back to the server from now on (responses
// say Connection: close). Register it with http.Server.RegisterOnShutdown.
func (d *Detacher) Drain() {
	d.mu.Lock()
	d.draining = true
	ps := make([]*parked, 0, len(d.parked))
	for p := range d.parked {
		ps = append(ps, p)
	}
	d.mu.Unlock()
	for _, p := range ps {
		p.settle(false)
	}
}

func (d *Detacher) idleWait() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keepIdle
}

func (d *Detacher) unpark(p *parked) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.parked, p)
}

// Rejoin returns a SetRejoin function for srv: it has srv serve a
// connection's next requests, as if srv had just accepted it, and reports
// false when srv would not (it is shutting down).
func Rejoin(srv *http.Server) func(net.Conn) bool {
	return func(c net.Conn) bool {
		l := &oneConn{c: c}
		_ = srv.Serve(l) // returns once it has taken c (or refused to)
		return l.taken
	}
}

// oneConn is a listener that accepts one connection, then reports itself
// closed, so Serve returns while the connection goes on being served.
// Closing it does not close the connection.
type oneConn struct {
	c     net.Conn
	taken bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.taken {
		return nil, net.ErrClosed
	}
	l.taken = true
	return l.c, nil
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

// park keeps the connection, idle, for the client's next request (see
// parked), and reports false when it cannot (a drain began, or the
// connection cannot be watched).
func (s *detachState) park() bool {
	d := s.d
	_ = s.conn.SetDeadline(time.Time{})
	p := &parked{d: d, conn: s.conn}
	// p.mu, held until p is set up, keeps an event that fires at once, or a
	// Drain that finds p in d.parked, waiting.
	p.mu.Lock()
	defer p.mu.Unlock()
	d.mu.Lock()
	if d.draining {
		d.mu.Unlock()
		return false
	}
	d.parked[p] = struct{}{}
	d.mu.Unlock()
	stop, ok := d.hangups.park(s.conn, p.ready)
	if !ok {
		p.done = true
		d.unpark(p)
		return false
	}
	p.stop = stop
	if idle := d.idleWait(); idle > 0 {
		p.timer = time.AfterFunc(idle, p.expire)
	}
	return true
}

// parked is an idle connection between a detached response and the
// client's next request. It waits in the hang-up epoll set, not on a
// goroutine: when bytes arrive the server serves it (SetRejoin), so its
// header timeout starts with the request, not with the wait; when the
// client hangs up, the idle timeout passes or a drain begins, it closes.
// This is net/http's keep-alive wait (IdleTimeout) for these connections.
type parked struct {
	d     *Detacher
	conn  net.Conn
	mu    sync.Mutex
	stop  func()
	timer *time.Timer
	done  bool
}

func (p *parked) ready(readable bool) { p.settle(readable) }
func (p *parked) expire()             { p.settle(false) }

// settle ends the wait once: the server gets the connection (serve), or
// it closes.
func (p *parked) settle(serve bool) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	p.done = true
	stop, timer := p.stop, p.timer
	p.mu.Unlock()
	stop()
	if timer != nil {
		timer.Stop()
	}
	p.d.unpark(p)
	if serve && p.d.mayRejoin() && (*p.d.rejoin.Load())(p.conn) {
		return
	}
	_ = p.conn.Close()
}
