package gateway

import (
	"fmt"
	"net/http"
	"runtime/debug"
)

// offStack runs f on a short-lived goroutine and returns its results. A
// panic in f is raised again on the caller's goroutine, so Recover answers
// it as any handler panic, carrying the stack it happened on (see
// raisedAgain).
//
// It is for the one-off deep calls of a stream that stays on its handler
// goroutine (one that cannot be detached, see middleware.Detach): its
// upstream round trip (client, token transport, HTTP/2 transport; see
// upstream.do) and its first write (where net/http writes the response
// head, in a function whose frame alone is 2.8 KiB; see
// streamWriter.write). A stream's handler goroutine lives as long as the
// stream, some 5.5 KiB deep in middleware and relay frames, and Go keeps a
// goroutine's stack at the size its deepest call needed while it stays
// that deep: either call would double it to 16 KiB for the stream's whole
// life. A goroutine that ends after the call gives the space back. The
// handoff costs about a microsecond.
func offStack[T any](f func() (T, error)) (T, error) {
	type result struct {
		v        T
		err      error
		panicked bool
		p        any
	}
	ch := make(chan result, 1)
	go func() {
		done := false
		defer func() {
			if !done {
				ch <- result{panicked: true, p: carryStack(recover())}
			}
		}()
		v, err := f()
		done = true
		ch <- result{v: v, err: err}
	}()
	r := <-ch
	if r.panicked {
		panic(r.p)
	}
	return r.v, r.err
}

// offStackErr is offStack for a call that returns only an error.
func offStackErr(f func() error) error {
	_, err := offStack(func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// carryStack wraps a panic value with the stack it happened on, for raising
// again on another goroutine. http.ErrAbortHandler stays as it is: net/http
// recognises that sentinel by identity.
func carryStack(v any) any {
	if v == http.ErrAbortHandler {
		return v
	}
	return &raisedAgain{v: v, stack: debug.Stack()}
}

// raisedAgain is a panic of offStack's goroutine raised again on the
// caller: the value and the stack it happened on, which Recover logs (a
// middleware.StackCarrier). It reads as the value: its text, and the value
// itself through errors.Is / errors.As when that is an error.
type raisedAgain struct {
	v     any
	stack []byte
}

func (p *raisedAgain) Error() string {
	switch v := p.v.(type) {
	case error:
		return v.Error()
	case string:
		return v
	default:
		return fmt.Sprintf("%T: %v", v, v)
	}
}

func (p *raisedAgain) Unwrap() error {
	err, _ := p.v.(error)
	return err
}

// PanicStack is the stack of the goroutine the panic happened on.
func (p *raisedAgain) PanicStack() []byte { return p.stack }
