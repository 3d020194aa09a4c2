package gateway

import (
	"fmt"
	"io"
	"time"
)

// eventGuard bounds the time between complete events of an upstream stream:
// it sits between the upstream body and the relay's reader, and a Read asked
// for when idle has passed since the last complete event (or the stream's
// start) fails with *eventIdleError instead of reading. Bytes that never end
// an event (a trickle without a blank line) therefore do not keep a stream
// open: the transport's idle timer (copilot's idleBody) re-arms on every
// byte, so it bounds plain silence only. The check compares times on each
// Read, with no timer: a trickle means Reads keep happening. Read and mark
// are both called by the relay's goroutine.
type eventGuard struct {
	r    io.Reader
	now  func() time.Time
	idle time.Duration // <= 0: off
	last time.Time     // the last complete event, or the start
}

func newEventGuard(r io.Reader, now func() time.Time, idle time.Duration) *eventGuard {
	return &eventGuard{r: r, now: now, idle: idle, last: now()}
}

// Read reads from the upstream body unless no event completed for idle.
func (g *eventGuard) Read(p []byte) (int, error) {
	if g.idle > 0 && g.now().Sub(g.last) >= g.idle {
		return 0, &eventIdleError{after: g.idle}
	}
	return g.r.Read(p)
}

// mark notes a complete event; a nil guard ignores it.
func (g *eventGuard) mark() {
	if g != nil && g.idle > 0 {
		g.last = g.now()
	}
}

// eventIdleError ends a stream whose upstream sent no complete event for
// the stream idle timeout. It is a timeout (Timeout reports true), so the
// stream ends with an upstream_timeout error event.
type eventIdleError struct {
	after time.Duration
}

func (e *eventIdleError) Error() string {
	return fmt.Sprintf("upstream sent no complete event for %s (stream idle timeout)", e.after)
}

// Timeout reports true: the error reads as a net.Error timeout.
func (e *eventIdleError) Timeout() bool { return true }
