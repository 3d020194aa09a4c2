package middleware

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// clientConn is a client's connection once a detached response has taken
// it over, for the rest of the connection's life: net/http serves the
// client's next requests on it (see rejoin). It adds two things to the
// connection.
//
// A read-ahead: its next byte may be read on a goroutine, to learn of the
// client's hang-up or of its next request without losing that byte; the
// next Read returns what was read ahead first. It also carries bytes read
// before the connection was taken over (a pipelined request net/http had
// buffered). It is the hang-up watch where the epoll set cannot be used
// (other systems than Linux, a connection without a file descriptor, bytes
// already read), at the cost of a goroutine while a read-ahead is in
// flight.
//
// The idle wait: given back to net/http at a stream's end, the connection
// waits for the client's next request as net/http's own keep-alive
// connections do, for the idle timeout. net/http treats it as a new
// connection, whose wait is the header timeout from the start, so until
// the first byte arrives the read deadline is the idle wait's end, and the
// header timeout net/http asked for starts with that byte (its request
// timeout too, see shift).
//
// Locks: mu, then the Detacher's (startWait, arrived, stopWaiting); the
// Detacher never takes mu while it holds its own.
type clientConn struct {
	net.Conn
	mu      sync.Mutex
	pending chan struct{}       // closed when the read-ahead in flight returns; nil: none
	notify  func(readable bool) // told once when the read-ahead returns
	watches uint64              // watch calls so far: a stop forgets only its own watch
	buf     []byte              // read ahead, not yet returned by Read
	err     error               // the read-ahead's error, returned once buf is empty

	waiting atomic.Bool   // in the idle wait: no byte of the next request yet
	d       *Detacher     // whose drain ends the wait
	idleEnd time.Time     // the wait's end (zero: no limit)
	asked   time.Duration // net/http's read timeout, asked during the wait (0: none)
	askedAt time.Time     // when it asked: the start of its request, for net/http
	drained bool          // a drain ended the wait
	// With a request timeout (see Rejoin) net/http sets the request's
	// deadline, from the start of its wait, once the headers are in: that
	// deadline moves by shift, how late the first byte came.
	shiftNext bool
	shift     time.Duration
}

// tlsClientConn is a clientConn over TLS. net/http knows a TLS connection
// by its type, or by this method: through it requests served on the
// wrapped connection still carry Request.TLS.
type tlsClientConn struct{ *clientConn }

// ConnectionState is the TLS connection's.
func (c tlsClientConn) ConnectionState() tls.ConnectionState {
	return c.Conn.(connectionStater).ConnectionState()
}

type connectionStater interface {
	ConnectionState() tls.ConnectionState
}

// wrapClient returns conn as a clientConn, wrapping it unless it is one
// already, and the connection to use from then on (a TLS connection's
// wrapper keeps its ConnectionState).
func wrapClient(conn net.Conn) (net.Conn, *clientConn) {
	c := asClient(conn)
	if c == nil {
		c = &clientConn{Conn: conn}
	}
	if _, ok := c.Conn.(connectionStater); ok {
		return tlsClientConn{c}, c
	}
	return c, c
}

// asClient returns the clientConn conn is (nil if none).
func asClient(conn net.Conn) *clientConn {
	switch c := conn.(type) {
	case *clientConn:
		return c
	case tlsClientConn:
		return c.clientConn
	}
	return nil
}

// NetConn returns the wrapped connection (for the epoll watch, which needs
// its descriptor).
func (c *clientConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the connection when the wrapped one can.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// give puts prefix (copied) in front of the connection's next reads.
func (c *clientConn) give(prefix []byte) {
	if len(prefix) == 0 {
		return
	}
	c.mu.Lock()
	c.buf = append(c.buf, prefix...)
	c.mu.Unlock()
}

// quiet reports whether nothing is read ahead or being read ahead: the
// connection's next bytes are on the socket, where the epoll set can watch
// for them.
func (c *clientConn) quiet() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending == nil && len(c.buf) == 0 && c.err == nil
}

// watch has f told, once, whether the client sent a byte (readable) or
// hung up (the read failed). Bytes already read ahead, or an error, tell
// it at once (on a goroutine of its own); otherwise a one-byte read-ahead
// starts, unless one is in flight. A later watch replaces f; stop, or a
// Read, forgets it (a stop called after a later watch leaves that one be).
func (c *clientConn) watch(f func(readable bool)) (stop func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watches++
	mine := c.watches
	stop = func() {
		c.mu.Lock()
		if c.watches == mine {
			c.notify = nil
		}
		c.mu.Unlock()
	}
	if c.pending == nil && (len(c.buf) > 0 || c.err != nil) {
		readable := len(c.buf) > 0
		go f(readable)
		return stop
	}
	c.notify = f
	if c.pending == nil {
		c.pending = make(chan struct{})
		go c.readOne(c.pending)
	}
	return stop
}

// readOne is the read-ahead: one byte, kept for Read.
func (c *clientConn) readOne(done chan struct{}) {
	var b [1]byte
	n, err := c.Conn.Read(b[:])
	c.mu.Lock()
	c.buf = append(c.buf, b[:n]...)
	if n == 0 && err != nil {
		c.err = err
	}
	f := c.notify
	c.notify, c.pending = nil, nil
	readable := len(c.buf) > 0
	c.mu.Unlock()
	close(done)
	if f != nil {
		f(readable)
	}
}

// Read returns the bytes read ahead, then the read-ahead's error, then
// reads the connection. A read-ahead in flight is waited for: it is the
// read a plain connection would be blocked in (a read deadline ends it as
// it would that read). The first byte read ends the idle wait.
func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.read(p)
	if n > 0 && c.waiting.Load() {
		c.arrived()
	}
	return n, err
}

func (c *clientConn) read(p []byte) (int, error) {
	c.mu.Lock()
	if done := c.pending; done != nil {
		c.notify = nil
		c.mu.Unlock()
		<-done
		c.mu.Lock()
	}
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		c.mu.Unlock()
		return n, nil
	}
	if err := c.err; err != nil {
		c.err = nil
		c.mu.Unlock()
		return 0, err
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
