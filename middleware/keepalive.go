package middleware

import (
	"net"
	"net/http"
	"time"
)

// Keep-alive for detached responses: the connection of a stream that ended
// cleanly goes back to the server at once and waits there for the client's
// next request, as net/http's own keep-alive connections do (see
// clientConn's idle wait). Handing it back at the stream's end, while the
// client reads it, keeps the server's start on the connection (its
// goroutine, its buffers) out of the next request's way.

// SetRejoin sets how the connection of a detached response that ended
// cleanly goes back to the server, to wait there for the client's next
// request at most idle (0: no limit): rejoin serves the connection's
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

// Drain ends the idle waits of the connections given back for a next
// request (they close, as net/http closes its idle connections when it
// shuts down), and keeps every connection from going back to the server
// from now on (responses say Connection: close). Register it with
// http.Server.RegisterOnShutdown: net/http would wait 5 s before it counts
// such a connection, new to it, as idle.
func (d *Detacher) Drain() {
	d.mu.Lock()
	d.draining = true
	cs := make([]*clientConn, 0, len(d.waiting))
	for c := range d.waiting {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	for _, c := range cs {
		c.endWait()
	}
}

func (d *Detacher) idleWait() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keepIdle
}

func (d *Detacher) unwait(c *clientConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.waiting, c)
}

// Rejoin returns a SetRejoin function for srv: it has srv serve a
// connection's next requests, as if srv had just accepted it, and reports
// false when srv would not (it is shutting down). srv sees the connection
// as a new one after each detached stream (ConnState StateNew), wrapped
// (see clientConn: it hides io.ReaderFrom, so no sendfile on it).
func Rejoin(srv *http.Server) func(net.Conn) bool {
	// net/http's readRequest sets the request's deadline (ReadTimeout) once
	// the headers are in, counted from the start of its wait.
	shift := srv.ReadTimeout > 0
	return func(c net.Conn) bool {
		if cc := asClient(c); cc != nil {
			cc.mu.Lock()
			cc.shiftNext = shift
			cc.mu.Unlock()
		}
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

// rejoin gives the connection back to the server for the client's next
// request, and reports false when it did not take it (a drain began, or
// the server is shutting down): the caller closes it then.
func (s *detachState) rejoin() bool {
	conn, c := wrapClient(s.conn)
	if !c.startWait(s.d) {
		return false
	}
	if (*s.d.rejoin.Load())(conn) {
		return true
	}
	c.stopWaiting()
	return false
}

// startWait begins the idle wait, registered with d for a drain; false
// once a drain began. Until the next request's first byte the read
// deadline is the wait's end.
func (c *clientConn) startWait(d *Detacher) bool {
	idle := d.idleWait()
	c.mu.Lock()
	defer c.mu.Unlock()
	d.mu.Lock()
	if d.draining {
		d.mu.Unlock()
		return false
	}
	d.waiting[c] = struct{}{}
	d.mu.Unlock()
	c.d, c.asked, c.askedAt, c.drained, c.shift, c.idleEnd = d, 0, time.Time{}, false, 0, time.Time{}
	if idle > 0 {
		// A socket deadline is wall-clock time, whatever the clock.
		c.idleEnd = time.Now().Add(idle)
	}
	c.waiting.Store(true)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	_ = c.Conn.SetReadDeadline(c.idleEnd)
	return true
}

// arrived ends the idle wait at the next request's first byte: the read
// timeout net/http asked for during the wait (its header timeout) starts
// now.
func (c *clientConn) arrived() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.waiting.Swap(false) {
		return
	}
	c.d.unwait(c)
	if c.drained {
		return // the drain's deadline stays: the connection is closing
	}
	var deadline time.Time
	if c.asked > 0 {
		now := time.Now()
		deadline = now.Add(c.asked)
		if c.shiftNext {
			c.shift = now.Sub(c.askedAt)
		}
	}
	_ = c.Conn.SetReadDeadline(deadline)
}

// endWait ends an idle wait for a drain: the server's pending read fails,
// and it closes the connection.
func (c *clientConn) endWait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.waiting.Load() {
		return
	}
	c.drained = true
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// stopWaiting forgets an idle wait (the connection closes).
func (c *clientConn) stopWaiting() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting.Swap(false) {
		c.d.unwait(c)
	}
}

// SetReadDeadline sets the connection's read deadline; during the idle
// wait it is noted for the first byte instead (see arrived), and the
// deadline stays the wait's end.
func (c *clientConn) SetReadDeadline(t time.Time) error {
	if !c.waiting.Load() && !c.shiftNext {
		return c.Conn.SetReadDeadline(t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.waiting.Load() {
		if c.shift != 0 && !t.IsZero() {
			t = t.Add(c.shift) // net/http's request deadline (see arrived)
		}
		c.shift = 0
		return c.Conn.SetReadDeadline(t)
	}
	now := time.Now()
	if !t.IsZero() && !t.After(now) {
		// A deadline already past cancels the read: the wait is over.
		if c.waiting.Swap(false) {
			c.d.unwait(c)
		}
		return c.Conn.SetReadDeadline(t)
	}
	c.asked, c.askedAt = 0, now
	if !t.IsZero() {
		c.asked = t.Sub(now)
	}
	if c.drained {
		return nil
	}
	return c.Conn.SetReadDeadline(c.idleEnd)
}

// SetDeadline sets both deadlines (the read one as SetReadDeadline does).
func (c *clientConn) SetDeadline(t time.Time) error {
	werr := c.Conn.SetWriteDeadline(t)
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return werr
}

// Close closes the connection, ending its idle wait.
func (c *clientConn) Close() error {
	c.stopWaiting()
	return c.Conn.Close()
}
