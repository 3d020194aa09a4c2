package copilotfake

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
)

// loopbackServer serves the fake's handler on a loopback port: what
// httptest.Server gave it, without linking net/http/httptest (whose init
// reads the process's flags) into the gateway binary that runs the demo.
type loopbackServer struct {
	srv    *http.Server
	ln     net.Listener
	url    string
	client *http.Client  // trusts the server's certificate under TLS
	served chan struct{} // closed when Serve has returned

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]bool
	open   sync.WaitGroup // tracked connections not yet closed
}

// newLoopbackServer listens on a free loopback port (IPv4, else IPv6) for
// h; onConn runs for every accepted connection. serve starts it.
func newLoopbackServer(h http.Handler, onConn func()) *loopbackServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic("copilotfake: cannot listen on a loopback port: " + err.Error())
		}
	}
	l := &loopbackServer{ln: ln, served: make(chan struct{}), conns: map[net.Conn]bool{}}
	l.srv = &http.Server{Handler: h, ConnState: func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			onConn()
		}
		l.track(c, st)
	}}
	return l
}

// track counts the open connections, so close can wait for their handlers
// (a connection reaches StateClosed after its last handler returned). A
// connection that arrives while closing is closed at once and not counted:
// Server.Close may already have passed over it.
func (l *loopbackServer) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew:
		if l.closed {
			_ = c.Close()
			return
		}
		l.conns[c] = true
		l.open.Add(1)
	case http.StateHijacked, http.StateClosed:
		if l.conns[c] {
			delete(l.conns, c)
			l.open.Done()
		}
	}
}

// serve starts serving: plain HTTP/1.1 with cfg nil, else TLS with HTTP/2
// (maxStreams > 0 caps the streams per connection), with a client that
// trusts caPEM.
func (l *loopbackServer) serve(cfg *tls.Config, maxStreams int, caPEM []byte) {
	tr := &http.Transport{}
	scheme := "http://"
	if cfg != nil {
		scheme = "https://"
		l.srv.TLSConfig = cfg
		if maxStreams > 0 {
			l.srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: maxStreams}
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.ForceAttemptHTTP2 = true
	}
	l.url = scheme + l.ln.Addr().String()
	l.client = &http.Client{Transport: tr}
	go func() {
		defer close(l.served)
		if cfg != nil {
			_ = l.srv.ServeTLS(l.ln, "", "")
		} else {
			_ = l.srv.Serve(l.ln)
		}
	}()
}

// close stops listening, closes every connection, idle or active, and
// waits for their handlers to return (the fake's own handlers return once
// Server.done is closed) and for Serve to end.
func (l *loopbackServer) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	_ = l.srv.Close()
	<-l.served
	l.open.Wait()
	l.client.CloseIdleConnections()
}
