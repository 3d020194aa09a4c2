package middleware

import (
	"crypto/tls"
	"net"
	"sync"
)

// readAhead is a connection whose next byte may be read ahead on a
// goroutine, to learn of the client's hang-up or of its next request
// without losing that byte: the next Read returns what was read ahead
// first. It also carries bytes of the client's read before the connection
// was taken over (a pipelined request net/http had buffered). It is the
// hang-up watch where the epoll set cannot be used (other systems than
// Linux, a connection without a file descriptor), at the cost of a
// goroutine (a stack) while a read-ahead is in flight.
type readAhead struct {
	net.Conn
	mu      sync.Mutex
	pending chan struct{}       // closed when the read-ahead in flight returns; nil: none
	notify  func(readable bool) // told once when the read-ahead returns
	watches uint64              // watch calls so far: a stop forgets only its own watch
	buf     []byte              // read ahead, not yet returned by Read
	err     error               // the read-ahead's error, returned once buf is empty
}

// newReadAhead wraps conn, whose next bytes are prefix (copied), unless it
// is a readAhead already.
func newReadAhead(conn net.Conn, prefix []byte) *readAhead {
	ra, ok := conn.(*readAhead)
	if !ok {
		ra = &readAhead{Conn: conn}
	}
	ra.mu.Lock()
	ra.buf = append(ra.buf, prefix...)
	ra.mu.Unlock()
	return ra
}

// watch has f told, once, whether the client sent a byte (readable) or
// hung up (the read failed). Bytes already read ahead, or an error, tell
// it at once (on a goroutine of its own); otherwise a one-byte read-ahead
// starts, unless one is in flight. A later watch replaces f; stop, or a
// Read, forgets it (a stop called after a later watch leaves that one be).
func (c *readAhead) watch(f func(readable bool)) (stop func()) {
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
func (c *readAhead) readOne(done chan struct{}) {
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
// it would that read).
func (c *readAhead) Read(p []byte) (int, error) {
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

// watchByReading calls onHangup when the client hangs up, by reading ahead
// (see readAhead); prefix is what the client sent that was read already.
// Bytes from the client (a pipelined request) end the watch without
// calling it, and are kept for the connection's next reader. It returns
// the connection to use from then on.
func watchByReading(conn net.Conn, prefix []byte, onHangup func()) (net.Conn, func()) {
	ra := newReadAhead(conn, prefix)
	stop := ra.watch(func(readable bool) {
		if !readable {
			onHangup()
		}
	})
	return ra, stop
}

// parkByReading calls onEvent once when conn, watched by reading (see
// watchByReading), has bytes to read (readable) or its client hung up. It
// reports false for a connection not watched by reading.
func parkByReading(conn net.Conn, onEvent func(readable bool)) (stop func(), ok bool) {
	ra, ok := conn.(*readAhead)
	if !ok {
		return nil, false
	}
	return ra.watch(onEvent), true
}

// hidesTLS reports a TLS connection wrapped to give bytes back: net/http
// knows a TLS connection by its type, so the wrapper could not serve
// another request as one (no Request.TLS).
func hidesTLS(conn net.Conn) bool {
	ra, ok := conn.(*readAhead)
	if !ok {
		return false
	}
	_, isTLS := ra.Conn.(*tls.Conn)
	return isTLS
}
