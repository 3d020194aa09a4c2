package middleware

import (
	"context"
	"net/http"

	"github.com/google/uuid"
)

// HeaderRequestID is the request and response header carrying the request id.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds a client-supplied id so it cannot bloat log lines.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID accepts the client's X-Request-Id when well-formed (1–128 chars of
// [A-Za-z0-9._:-]), otherwise generates a random UUIDv4. It stores the id in
// the context and sets the X-Request-Id response header before calling next,
// so every response, including errors and recovered panics, carries it.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c := newIDCtx(r.Context(), id)
		// The header value slice lives in the same allocation as the context.
		c.hdr[0] = id
		w.Header()[HeaderRequestID] = c.hdr[:]
		next.ServeHTTP(w, r.WithContext(c))
	})
}

// RequestIDFrom returns the request id stored in ctx, or "" if there is none.
func RequestIDFrom(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*idCtx); ok {
		return c.id
	}
	return ""
}

// idCtx carries the request id. It replaces context.WithValue, which would
// cost a second allocation to box the string; Value hands out the pointer
// instead. Everything else comes from the embedded parent.
type idCtx struct {
	context.Context
	id  string
	hdr [1]string
}

func newIDCtx(parent context.Context, id string) *idCtx {
	return &idCtx{Context: parent, id: id}
}

func (c *idCtx) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// validRequestID reports whether a client id is safe to echo and log: a short
// token of characters that cannot break a header or a log line.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns a random UUIDv4 in its canonical text form (the
// same generator the copilot transport uses for X-Request-Id).
func newRequestID() string { return uuid.NewString() }
