package middleware

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/copilot-proxy/copilot-proxy/api"
)

type loggerKey struct{}

// AccessLog logs one line per request once it completes: info level, warn for
// a 5xx or a response aborted by a panic. Fields: request_id, method, route
// (the chi route pattern, "unmatched" when none), status, duration_ms, bytes,
// model, stream, key_id, upstream_status, upstream_ms, error_code, remote,
// peer; empty ones are omitted. remote is the client's address as clientIP
// resolves it (nil: the host of r.RemoteAddr; see NewClientIP), peer the
// host of r.RemoteAddr, logged only when it differs from remote (the
// request came through a trusted proxy). The query string, headers and bodies are never
// logged: they may carry secrets. The raw path is logged (as path, escaped and
// clipped to 200 bytes) only for an unmatched route, which has no pattern to
// name it by.
//
// It also puts in the context a request-scoped logger (logger with
// request_id, see LoggerFrom) and a StatusWriter (see Wrap) that inner
// middlewares share. The fields the handlers note come from the request's
// Entry, which Entries installs before it.
//
// Install it with chi's Router.Use (after Entries and RequestID): the route
// pattern is read from chi's routing context after next returns, which only
// exists inside the router. now is the clock of the durations (nil:
// time.Now).
func AccessLog(logger zerolog.Logger, now func() time.Time, clientIP func(*http.Request) string) func(http.Handler) http.Handler {
	if now == nil {
		now = time.Now
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := newAccessState(w, r, &logger, now, clientIP)
			completed := false
			defer func() {
				// Runs on panic too (then completed is false), so an aborted
				// request is still logged; the panic keeps unwinding.
				st.returned(r, completed)
			}()
			next.ServeHTTP(&st.sw, r.WithContext(st))
			completed = true
		})
	}
}

// LoggerFrom returns the request-scoped logger from ctx, or a disabled logger
// when there is none. Derive from it with With(); do not modify it in place.
func LoggerFrom(ctx context.Context) *zerolog.Logger {
	if h, ok := ctx.Value(loggerKey{}).(*lazyLogger); ok {
		return h.get()
	}
	l := zerolog.Nop()
	return &l
}

// WithLogger returns ctx carrying l as the request-scoped logger.
func WithLogger(ctx context.Context, l zerolog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, &lazyLogger{l: l, ready: true})
}

// lazyLogger builds the request logger on first use: most requests never log
// beyond the access line, and With() allocates.
type lazyLogger struct {
	once  sync.Once
	base  zerolog.Logger
	id    string
	l     zerolog.Logger
	ready bool // set at construction only, so reading it needs no lock
}

func (h *lazyLogger) get() *zerolog.Logger {
	if h.ready {
		return &h.l
	}
	h.once.Do(func() {
		if h.id == "" {
			h.l = h.base
			return
		}
		h.l = h.base.With().Str("request_id", h.id).Logger()
	})
	return &h.l
}

// newAccessState is the state of a request starting now. All of it is one
// allocation: the context value holder, the response writer wrapper and the
// lazily built request logger. It is kept out of the middleware's frame
// (noinline), which stays on the stack for a whole stream (see Auth's
// admit).
//
//go:noinline
func newAccessState(w http.ResponseWriter, r *http.Request, logger *zerolog.Logger, now func() time.Time,
	clientIP func(*http.Request) string) *accessState {
	ctx := r.Context()
	id := RequestIDFrom(ctx)
	return &accessState{
		Context:  ctx,
		sw:       statusWriter{w: w},
		log:      lazyLogger{base: *logger, id: id},
		entry:    EntryFrom(ctx),
		start:    now(),
		now:      now,
		clientIP: clientIP,
	}
}

// accessState is the access log's per-request state. It is itself the
// request context: Value answers the logger key and defers to the parent for
// everything else, which saves a context.WithValue.
// Done/Err/Deadline come from the embedded parent, so cancellation is
// unchanged and derived contexts still attach to the parent's cancelCtx.
type accessState struct {
	context.Context
	sw    statusWriter
	entry *Entry
	log   lazyLogger
	start time.Time
	now   func() time.Time
	// clientIP resolves the client's address (nil: the peer's).
	clientIP func(*http.Request) string
	// Set as the handler returns, for the line written at the end (not the
	// request itself: a detached stream would hold it for its whole life).
	method, route, path, remote string
	client                      string // resolved by clientIP; "" without one
	completed                   bool
}

// returned notes the handler's return (completed: without a panic) and
// logs the request at its end (see AtEnd). The route pattern is read now:
// chi's routing context is reused once the handler has returned.
func (s *accessState) returned(r *http.Request, completed bool) {
	s.method, s.route, s.remote, s.completed = r.Method, RoutePattern(r), r.RemoteAddr, completed
	if s.clientIP != nil {
		s.client = s.clientIP(r)
	}
	if s.route == unmatched {
		// No pattern to name it by: say what was asked for, without the
		// query (it may hold secrets), escaped and bounded.
		s.path = api.Clip(r.URL.EscapedPath(), maxLoggedPath)
	}
	AtEnd(s, s)
}

// End writes the access line.
func (s *accessState) End() {
	completed := s.completed && !endAborted(s)
	s.write(s.log.base, s.log.id, s.now().Sub(s.start), completed)
}

func (s *accessState) Value(key any) any {
	if _, ok := key.(loggerKey); ok {
		return &s.log
	}
	return s.Context.Value(key)
}

func (s *accessState) write(logger zerolog.Logger, id string, took time.Duration, completed bool) {
	status := s.sw.status
	if status == 0 && completed {
		status = http.StatusOK // net/http sends an implicit 200
	}
	level := zerolog.InfoLevel
	if status >= 500 || !completed {
		level = zerolog.WarnLevel
	}
	ev := logger.WithLevel(level)
	if ev == nil {
		return
	}
	if id != "" {
		ev.Str("request_id", id)
	}
	route := s.route
	ev.Str("method", s.method).
		Str("route", route).
		Int("status", status).
		Float64("duration_ms", float64(took)/float64(time.Millisecond)).
		Int64("bytes", s.sw.bytes)
	if s.path != "" {
		ev.Str("path", s.path)
	}
	if !completed {
		ev.Bool("aborted", true)
	}
	e := s.entry
	if e.model != "" {
		ev.Str("model", e.model)
	}
	if e.streamSet {
		ev.Bool("stream", e.stream)
	}
	if e.keyID != "" {
		ev.Str("key_id", e.keyID)
	}
	if e.upstreamSet {
		ev.Int("upstream_status", e.upstreamStatus).
			Float64("upstream_ms", float64(e.upstreamDur)/float64(time.Millisecond))
	}
	if e.errorCode != "" {
		ev.Str("error_code", e.errorCode)
	}
	s.writeRemote(ev)
	ev.Send()
}

// writeRemote logs the client's address, and the peer's when a trusted
// proxy stood between them.
func (s *accessState) writeRemote(ev *zerolog.Event) {
	peer := remoteIP(s.remote)
	client := peer
	if s.client != "" {
		client = s.client
	}
	if client != "" {
		ev.Str("remote", client)
	}
	if client != peer && peer != "" {
		ev.Str("peer", peer)
	}
}

// unmatched is the route of a request no route matched (a 404 or 405).
const unmatched = "unmatched"

// maxLoggedPath bounds the path logged for an unmatched request.
const maxLoggedPath = 200

// RoutePattern is the matched chi route pattern, "unmatched" when none:
// what logs and metrics name a request by, never the raw path (which may
// hold ids or secrets).
func RoutePattern(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			return p
		}
	}
	return unmatched
}

// remoteIP strips the port (and IPv6 brackets) from a RemoteAddr without
// allocating.
func remoteIP(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			return addr[1:i]
		}
		return addr
	}
	// Exactly one colon means host:port; more is a bare IPv6 address.
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.IndexByte(addr[:i], ':') < 0 {
		return addr[:i]
	}
	return addr
}
