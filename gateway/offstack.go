package gateway

// offStack runs f on a short-lived goroutine and returns its results. A
// panic in f is raised again on the caller's goroutine, so Recover answers
// it as any handler panic (the stack it logs is then the caller's).
//
// It is for the one-off deep calls of a stream: its upstream round trip
// (client, token transport, HTTP/2 transport; see upstream.do) and its first
// write (where net/http writes the response head, in a function whose frame
// alone is 2.8 KiB; see streamWriter.write). A stream's handler goroutine
// lives as long as the stream, some 5.5 KiB deep in middleware and relay
// frames, and Go keeps a goroutine's stack at the size its deepest call
// needed while it stays that deep: either call would double it to 16 KiB
// for the stream's whole life. A goroutine that ends after the call gives
// the space back. The handoff costs about a microsecond.
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
				ch <- result{panicked: true, p: recover()}
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
