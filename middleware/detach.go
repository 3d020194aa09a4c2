package middleware

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
// goes back to the server, to wait for the client's next request as with
// net/http's keep-alive (see SetRejoin, keepalive.go); without a way back
// (or when the client asked for it) the response says Connection: close and
// the connection closes. A client hanging up is noticed at once, as by
// net/http (see hangups), and cancels the stream's context.
type Detacher struct {
	now      func() time.Time
	hangups  hangups
	mu       sync.Mutex
	live     map[*detachState]struct{}
	waiting  map[*clientConn]struct{} // connections given back, waiting for a next request
	keepIdle time.Duration            // how long they wait (SetRejoin)
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
	d := &Detacher{now: now, live: make(map[*detachState]struct{}), waiting: make(map[*clientConn]struct{})}
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
	s := stateOf(r.Context())
	if s == nil || r.Body != &s.body || s.w == nil {
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
	s := stateOf(r.Context())
	if !s.detachable() {
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
	// Bytes of the client's that net/http read past this request (a
	// pipelined next request) go back in front of the connection's reads.
	var ahead []byte
	if n := brw.Reader.Buffered(); n > 0 {
		ahead, _ = brw.Reader.Peek(n)
	}
	conn, stop := s.d.hangups.watch(conn, ahead, s.abort)
	s.d.mu.Lock()
	s.conn, s.stopWatch = conn, stop
	s.d.mu.Unlock()
	if s.Err() != nil {
		s.abort() // a drain's Cancel came before conn was known
	}
	// The connection can serve the client's next request only if nothing of
	// it is lost (this request's body was read to its end).
	s.keepAlive = !r.Close && s.body.done(r) && s.d.mayRejoin()
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
	s := stateOf(ctx)
	return s != nil && s.run != nil
}

// Detachable reports whether the response of the request carrying ctx can
// still be detached: it is under Detacher.Middleware, nothing of it has
// been written, and it is not detached yet. A handler that will detach its
// response may then make deep calls on its own goroutine, which ends once
// it has (see Detach).
func Detachable(ctx context.Context) bool {
	return stateOf(ctx).detachable()
}

// stateOf returns the detachable state of the request carrying ctx; nil
// when it is not under Detacher.Middleware.
func stateOf(ctx context.Context) *detachState {
	s, _ := ctx.Value(detachKey{}).(*detachState)
	return s
}

// detachable reports whether Detach would take the response: nothing of it
// has been written and it is not detached yet (false for a nil s).
func (s *detachState) detachable() bool {
	return s != nil && !s.touched && s.run == nil
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
	if s := stateOf(ctx); s != nil && s.run != nil {
		s.atEnd = append(s.atEnd, e)
		return
	}
	e.End()
}

// endAborted reports whether the detached response of the request carrying
// ctx was cut by a panic (false for any other request).
func endAborted(ctx context.Context) bool {
	s := stateOf(ctx)
	return s != nil && s.aborted
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

// end stops the watch for a hang-up and sends the body's last chunk (unless
// the body was cut).
func (s *detachState) end() {
	s.stopWatch()
	if !s.aborted && s.werr == nil {
		_ = s.send(nil, true)
	}
}

// closeConn gives the connection back to the server for the client's next
// request after a complete response (see rejoin), or closes it. Before
// closing after a complete response it half-closes and reads what the
// client still sends until it closes too (lingerTime at most): closing a
// socket with unread input makes the kernel send a reset, which can destroy
// the response's end before the client has read it. A cut response closes
// at once.
func (s *detachState) closeConn() {
	s.d.mu.Lock()
	s.over = true
	s.d.mu.Unlock()
	clean := !s.aborted && s.werr == nil
	if clean && s.keepAlive && s.rejoin() {
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

// Close ends the waits of the connections given back for a next request
// (as Drain), ends the detached responses still in flight (as Cancel) and
// waits for them, up to closeWait; later ones watch for hang-ups with a
// reading goroutine each and keep no connection. Call it once the server
// has drained.
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
