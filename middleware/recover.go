package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/copilot-proxy/copilot-proxy/api"
)

// Recover turns a panic in next into a 500 envelope (internal_error,
// "internal error") when the response has not started, logging it at error
// level through LoggerFrom, its text passed through api.Redact, with the
// stack (a StackCarrier's own). If the response has already
// started, an envelope would corrupt it, so after logging it aborts the
// connection with panic(http.ErrAbortHandler) and the client sees a broken
// response. A panic with http.ErrAbortHandler itself (how a broken stream
// aborts on purpose) is re-panicked untouched and not logged. A panic once
// the response was detached (see Detach) is logged and goes no further:
// the response and the Entry are its detached run's, which goes on.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := Wrap(w)
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(rec)
			}
			ctx := r.Context()
			if Detached(ctx) {
				// The response and the Entry belong to its detached run,
				// which goes on: anything written here would corrupt them.
				logPanicLine(ctx, rec, true)
				return
			}
			logPanic(ctx, rec, sw.Started())
			if sw.Started() {
				panic(http.ErrAbortHandler)
			}
			WriteError(sw, r, api.NewError(api.CodeInternal, "internal error"))
		}()
		next.ServeHTTP(sw, r)
	})
}

// logPanic notes a handler's panic on the request's Entry (internal_error)
// and logs it at error level: its text passed through api.Redact, whether
// the response had started, and its stack.
func logPanic(ctx context.Context, rec any, started bool) {
	EntryFrom(ctx).SetErrorCode(string(api.CodeInternal))
	logPanicLine(ctx, rec, started)
}

// logPanicLine is logPanic without the Entry, for a goroutine that does not
// own it.
func logPanicLine(ctx context.Context, rec any, started bool) {
	LoggerFrom(ctx).Error().
		Str("panic", api.Redact(panicText(rec))).
		Bool("response_started", started).
		Str("stack", string(panicStack(rec))).
		Msg("handler panicked")
}

// StackCarrier is a panic value that carries the stack it was first raised
// on: a panic raised again on another goroutine (the gateway runs a
// stream's deep one-off calls on short-lived goroutines), where the stack
// at the recovery no longer shows where it happened. Recover logs that
// stack instead.
type StackCarrier interface {
	PanicStack() []byte
}

// panicStack is the stack to log for rec: the one it carries, else the
// current one (the panicking goroutine's, at the recovery).
func panicStack(rec any) []byte {
	if c, ok := rec.(StackCarrier); ok {
		return c.PanicStack()
	}
	return debug.Stack()
}

// panicText describes a panic value. Only the value's own text is used; it is
// never sent to the client.
func panicText(rec any) string {
	switch v := rec.(type) {
	case error:
		return v.Error()
	case string:
		return v
	default:
		return fmt.Sprintf("%T: %v", rec, rec)
	}
}
