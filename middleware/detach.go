package middleware

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Detacher lets a handler finish a long response, a stream, off the
// server's goroutine (see Detach), and keeps count of those responses for a
// drain (Wait, Cancel).
//
// Why: while a handler runs, net/http's HTTP/1.1 server holds the
// connection's goroutine and stack, its 4 KiB read and 4 KiB write buffers,
// a 2 KiB response buffer and a goroutine reading ahead for the next
// request. For a stream that waits minutes on the model that is most of what
// it costs. A detached stream takes over the connection (Hijack) and writes
// its chunked body itself on a goroutine of its own; net/http's goroutine,
// buffers and reader are freed at once. At the stream's end the connection
// goes back to the server for the client's next request (see SetRejoin), as
// with net/http's keep-alive; without a way back (or when the client asked
// for it) the response says Connection: close and the connection closes. A
// client hanging up is noticed at once, as by net/http (see hangups), and
// cancels the stream's context.
type Detacher struct {
	now      func() time.Time
	hangups  hangups
	mu       sync.Mutex
	live     map[*detachState]struct{}
	parked   map[*parked]struct{} // idle connections waiting for a next request
	keepIdle time.Duration        // how long they wait (SetRejoin)
	draining bool
	idle     *sync.Cond // signalled when live empties
	rejoin   atomic.Pointer[func(net.Conn) bool]
	bufs     sync.Pool // *[]byte, the writes' assembly buffers
}

// NewDetacher returns a Detacher; now is the clock of the Date header (nil:
// time.Now).
func NewDetacher(now func() time.Time) *Detacher {
	if now == nil {
		now = time.Now
	}
	d := &Detacher{now: now, live: make(map[*detachState]struct{}), parked: make(map[*parked]struct{})}
	d.idle = sync.NewCond(&d.mu)
	d.bufs.New = func() any { b := make([]byte, 0, 1<<10); return &b }
	return d
}

type detachKey struct{}

// Middleware makes a request's response detachable. Install it outermost:
// the writer and the context every other middleware sees are its own, so
// that the response can move to another goroutine with all of them. Only a
// POST over HTTP/1.1 can be detached (streams are answers to POSTs; an
// HTTP/2 connection cannot be taken over, HTTP/1.0 has no chunked bodies);
// other requests pass through untouched.
func (d *Detacher) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
			next.ServeHTTP(w, r)
			return
		}
		s := d.newState(w, r)
		defer s.handlerReturned()
		next.ServeHTTP(s, s.req)
	})
}

// newState is the detachable state of a request. Its context is the
// request's without net/http's cancellation, cancelled instead when net/http
// cancels the request's until the response is detached, and at its end.
func (d *Detacher) newState(w http.ResponseWriter, r *http.Request) *detachState {
	parent := r.Context()
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	s := &detachState{Context: ctx, cancel: cancel, d: d, w: w, header: w.Header()}
	s.stopParent = context.AfterFunc(parent, cancel)
	s.req = r.WithContext(s)
	s.body.rc = r.Body
	s.req.Body = &s.body
	return s
}

// limitDetachable puts BodyLimit's bound beneath r's body when that is the
// detachable body of Detacher.Middleware (and reports whether it did):
// MaxBytesReader holds net/http's writer, to have the connection closed
// when the limit is hit, and a detached response must let go of that
// writer with the body.
func limitDetachable(r *http.Request, max int64) bool {
	s, ok := r.Context().Value(detachKey{}).(*detachState)
	if !ok || r.Body != &s.body || s.w == nil {
		return false
	}
	s.body.rc = http.MaxBytesReader(s.w, s.body.rc, max)
	return true
}

// detachBody is the request body the handlers read, so that a detached
// response can let go of net/http's body, which holds the connection's read
// buffer (a handler has read the body by the time it detaches).
type detachBody struct {
	rc  io.ReadCloser
	eof bool // a read reached the body's end
}

func (b *detachBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *detachBody) Close() error { return b.rc.Close() }

// done reports whether nothing of r's body is left on the connection.
func (b *detachBody) done(r *http.Request) bool {
	return b.eof || r.ContentLength == 0
}

// Detach hands the rest of r's response to run, which is called at once on
// a goroutine of its own, while the handler returns: the caller must return
// without touching the response again. As the handler chain returns, each
// middleware queues the work it does at a request's end (see AtEnd); that
// runs after run, once the response has ended. r's context stays alive for
// run (net/http cancels the handler's context when it returns; this one is
// cancelled by a drain's Cancel and at the end).
//
// Detach must be called before anything of the response is written. It
// reports false, having done nothing, when the response cannot be detached
// (not under Detacher.Middleware, not HTTP/1.1, already started, or the
// connection cannot be taken over): the caller then does the work itself.
func Detach(r *http.Request, run func()) bool {
	s, ok := r.Context().Value(detachKey{}).(*detachState)
	if !ok || s.touched || s.run != nil {
		return false
	}
	// Counted before the connection leaves net/http's count, so a drain
	// never sees neither.
	s.d.add(s)
	conn, brw, err := http.NewResponseController(s.w).Hijack()
	if err != nil {
		s.d.remove(s)
		return false
	}
	s.d.mu.Lock() // Cancel reads conn
	s.conn = conn
	s.d.mu.Unlock()
	s.run, s.runReq = run, r
	s.stopParent()
	// The client hanging up cancels the context, as net/http's read-ahead
	// does for a handler: the relay then stops at once and, through the
	// context, the upstream.
	var polled bool
	s.stopWatch, polled = s.d.hangups.watch(conn, s.abort)
	if s.Err() != nil {
		s.abort() // a drain's Cancel came before conn was known
	}
	// The connection can serve the client's next request only if nothing of
	// it is lost: net/http read no byte past this request (those are in
	// brw, dropped here), this request's body was read to its end, and the
	// watch does not read.
	s.keepAlive = polled && !r.Close && brw.Reader.Buffered() == 0 && s.body.done(r) && s.d.mayRejoin()
	// Let go of what holds net/http's connection state and buffers.
	s.w, s.body.rc = nil, http.NoBody
	s.returned = make(chan struct{})
	// The stream starts now, not once the handler chain has returned: its
	// first event does not wait for the chain.
	go s.finish()
	return true
}

// Detached reports whether the response of the request carrying ctx has
// been detached (see Detach).
func Detached(ctx context.Context) bool {
	s, ok := ctx.Value(detachKey{}).(*detachState)
	return ok && s.run != nil
}

// An Ender is work a middleware does at the end of a request: releasing
// what it holds, recording what the request did.
type Ender interface {
	End()
}

// AtEnd calls e.End at the end of the request carrying ctx: after its
// detached response has ended (see Detach), or now. Middlewares call it as
// next returns (deferred, so it runs on a panic too) instead of doing their
// end-of-request work directly. Whatever End reads of the request it must
// have kept by then (a detached response outlives chi's routing context).
func AtEnd(ctx context.Context, e Ender) {
	s, ok := ctx.Value(detachKey{}).(*detachState)
	if ok && s.run != nil {
		s.atEnd = append(s.atEnd, e)
		return
	}
	e.End()
}

// endAborted reports whether the detached response of the request carrying
// ctx was cut by a panic (false for any other request).
func endAborted(ctx context.Context) bool {
	s, ok := ctx.Value(detachKey{}).(*detachState)
	return ok && s.aborted
}

// detachState is one request under Detacher.Middleware: its context, and
// the response writer the handlers write through, net/http's until the
// response is detached and the raw connection's after.
type detachState struct {
	context.Context
	cancel     context.CancelFunc
	stopParent func() bool
	d          *Detacher
	req        *http.Request
	w          http.ResponseWriter // net/http's
	header     http.Header
	body       detachBody
	touched    bool          // something was written through w: too late to detach
	run        func()        // set by Detach
	atEnd      []Ender       // queued by AtEnd, in the order the chain returned
	runReq     *http.Request // the request Detach was given
	conn       net.Conn      // the taken-over connection, once detached
	status     int
	headSent   bool
	aborted    bool          // run panicked: the body was cut, not ended
	stopWatch  func()        // ends the watch for the client's hang-up
	keepAlive  bool          // the connection goes back to the server at the end (see SetRejoin)
	over       bool          // under d.mu: the response is over, abort touches nothing
	returned   chan struct{} // closed when the handler chain has returned
	werr       error
}

func (s *detachState) Value(key any) any {
	if _, ok := key.(detachKey); ok {
		return s
	}
	return s.Context.Value(key)
}

// abort ends a detached response early (the client hung up, or a drain's
// cut): its context is cancelled, and a write blocked on a client that
// stopped reading fails at once.
func (s *detachState) abort() {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.abortLocked()
}

// abortLocked is abort with d.mu held. Once the response is over its
// connection may serve another request: nothing is touched then.
func (s *detachState) abortLocked() {
	if s.over {
		return
	}
	s.cancel()
	_ = s.conn.SetWriteDeadline(time.Unix(1, 0))
}

// handlerReturned runs as the handler chain returns: the detached
// response's goroutine may then run the ends the chain queued; any other
// request's context is released.
func (s *detachState) handlerReturned() {
	if s.run == nil {
		s.stopParent()
		s.cancel()
		return
	}
	s.req = nil // the stream holds what it needs of it
	close(s.returned)
}

// finish is the detached response's goroutine: run, the end of the body,
// then the work the middlewares queued.
func (s *detachState) finish() {
	defer s.d.remove(s)
	defer s.cancel()
	defer s.closeConn()
	defer s.runAtEnd()
	s.runStream()
	s.end()
}

// runStream calls run; a panic is logged as Recover logs one, and cuts the
// body (the client sees a broken response, as when net/http aborts one).
func (s *detachState) runStream() {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if err, ok := rec.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
			logPanic(s.runReq.Context(), rec, s.headSent)
		}
		if !s.headSent && s.werr == nil {
			// Nothing sent yet: the client gets the error, as from Recover.
			s.status = 0
			WriteError(s, s.runReq, api.NewError(api.CodeInternal, "internal error"))
			return
		}
		s.aborted = true
	}()
	s.run()
}

// runAtEnd runs the queued end-of-request work. One that panics is logged
// and the others still run: each releases something of its own (a limits
// slot, a budget hold, a usage row).
func (s *detachState) runAtEnd() {
	<-s.returned // the middlewares queue their ends as the chain returns
	for _, e := range s.atEnd {
		func() {
			defer func() {
				if rec := recover(); rec != nil {
					logPanic(s.runReq.Context(), rec, true)
				}
			}()
			e.End()
		}()
	}
}

// end sends the body's last chunk (unless it was cut) and closes the
// connection.
func (s *detachState) end() {
	s.stopWatch()
	if !s.aborted && s.werr == nil {
		_ = s.send(nil, true)
	}
}

// closeConn closes the connection. After a complete response it first
// half-closes and reads what the client still sends until it closes too
// (lingerTime at most): closing a socket with unread input makes the
// kernel send a reset, which can destroy the response's end before the
// client has read it. A cut response closes at once.
func (s *detachState) closeConn() {
	s.d.mu.Lock()
	s.over = true
	s.d.mu.Unlock()
	clean := !s.aborted && s.werr == nil
	if clean && s.keepAlive && s.park() {
		return
	}
	cw, ok := s.conn.(interface{ CloseWrite() error })
	if ok && clean && cw.CloseWrite() == nil {
		// A socket deadline is wall-clock time, whatever the clock.
		_ = s.conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, io.LimitReader(s.conn, lingerBytes))
	}
	_ = s.conn.Close()
}

// park keeps the connection, idle, for the client's next request (see
// parked), and reports false when it cannot (a drain began, or the
// connection cannot be watched).
func (s *detachState) park() bool {
	d := s.d
	_ = s.conn.SetDeadline(time.Time{})
	p := &parked{d: d, conn: s.conn}
	d.mu.Lock()
	if d.draining {
		d.mu.Unlock()
		return false
	}
	d.parked[p] = struct{}{}
	d.mu.Unlock()
	// p.mu keeps an event that fires at once waiting until p is set up.
	p.mu.Lock()
	defer p.mu.Unlock()
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

// lingerTime and lingerBytes bound closeConn's wait for the client's close:
// a client closes as soon as it has read a Connection: close response.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 64 << 10
)

func (d *Detacher) add(s *detachState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live[s] = struct{}{}
}

func (d *Detacher) remove(s *detachState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.live, s)
	if len(d.live) == 0 {
		d.idle.Broadcast()
	}
}

// SetRejoin sets how the connection of a detached response that ended
// cleanly goes back to the server: rejoin serves the connection's next
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

// Close ends the detached responses still in flight (as Cancel) and waits
// for them, up to closeWait; later ones watch for hang-ups with a reading
// goroutine each. Call it once the server has drained.
func (d *Detacher) Close() {
	d.Drain()
	d.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	_ = d.Wait(ctx)
	d.hangups.close()
}

// closeWait bounds Close's wait for cancelled responses: they only have to
// notice their context and return.
const closeWait = 5 * time.Second

// InFlight is the number of detached responses not yet ended.
func (d *Detacher) InFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.live)
}

// Wait waits until no detached response is in flight, or ctx ends (its
// error is returned then).
func (d *Detacher) Wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.idle.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.live) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.idle.Wait()
	}
	return nil
}

// Cancel cancels the contexts of the detached responses in flight (a
// drain's cut): their streams end and their connections close.
func (d *Detacher) Cancel() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for s := range d.live {
		if s.conn != nil {
			s.abortLocked()
		} else {
			s.cancel() // still being detached: it starts cancelled
		}
	}
}

// ---- the response writer ----

func (s *detachState) Header() http.Header { return s.header }

func (s *detachState) WriteHeader(code int) {
	if s.conn == nil {
		s.touched = true
		s.w.WriteHeader(code)
		return
	}
	if s.status == 0 && code >= 200 {
		s.status = code
	}
}

func (s *detachState) Write(p []byte) (int, error) {
	if s.conn == nil {
		s.touched = true
		return s.w.Write(p)
	}
	if s.werr != nil {
		return 0, s.werr
	}
	if len(p) == 0 {
		return 0, nil // an empty chunk would end the body
	}
	if err := s.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send writes, in one write, the head if it has not gone yet, then p as a
// chunk (none for an empty p), then the last chunk if last. The bytes are
// assembled in a pooled buffer: a stream waits long between its events and
// would otherwise hold one each.
func (s *detachState) send(p []byte, last bool) error {
	bp := s.d.bufs.Get().(*[]byte)
	b := s.appendHead((*bp)[:0])
	if len(p) > 0 {
		b = strconv.AppendInt(b, int64(len(p)), 16)
		b = append(b, "\r\n"...)
		b = append(b, p...)
		b = append(b, "\r\n"...)
	}
	if last {
		b = append(b, "0\r\n\r\n"...)
	}
	_, err := s.conn.Write(b)
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		s.d.bufs.Put(bp)
	}
	if err != nil {
		s.werr = err
	}
	return err
}

// maxPooledBuf bounds the buffers send keeps for reuse; a larger event's
// goes to the collector.
const maxPooledBuf = 4 << 10

// FlushError sends the head if it has not gone yet; the body's writes are
// not buffered once detached.
func (s *detachState) FlushError() error {
	if s.conn == nil {
		s.touched = true
		return http.NewResponseController(s.w).Flush()
	}
	if s.werr != nil || s.headSent {
		return s.werr
	}
	return s.send(nil, false)
}

// Unwrap gives http.ResponseController net/http's writer until the
// response is detached (after, there is none: this is the writer).
func (s *detachState) Unwrap() http.ResponseWriter {
	if s.conn == nil {
		return s.w
	}
	return nil
}

// SetWriteDeadline sets the connection's write deadline (through net/http
// until detached).
func (s *detachState) SetWriteDeadline(t time.Time) error {
	if s.conn == nil {
		return http.NewResponseController(s.w).SetWriteDeadline(t)
	}
	return s.conn.SetWriteDeadline(t)
}

// appendHead appends the response head to b the first time: the status
// line, the handler's headers with net/http's Date, chunked encoding and,
// unless the connection goes back to the server, its close.
func (s *detachState) appendHead(b []byte) []byte {
	if s.headSent {
		return b
	}
	s.headSent = true
	status := s.status
	if status == 0 {
		status = http.StatusOK
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)
	if _, ok := s.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = s.d.now().UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
	}
	hw := appendWriter{b: b}
	_ = s.header.WriteSubset(&hw, framingHeaders)
	b = append(hw.b, "Transfer-Encoding: chunked\r\n"...)
	if s.keepAlive && (status == http.StatusNoContent || status == http.StatusNotModified || !s.d.mayRejoin()) {
		// A bodiless status cannot carry the chunked body written here, and
		// a draining server keeps no connection: say so, and close.
		s.keepAlive = false
	}
	if !s.keepAlive {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// framingHeaders are the headers the detached writer sets itself.
var framingHeaders = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Trailer": true}

// appendWriter is an io.Writer appending to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
