package copilot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// IdleTimeoutError is returned by a response body's Read when the upstream
// sent nothing for the configured StreamIdleTimeout; the request was cancelled.
type IdleTimeoutError struct {
	After time.Duration
}

// Error says how long the upstream was silent.
func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("upstream sent nothing for %s (stream idle timeout)", e.After)
}

// Timeout reports true, so the error reads as a net.Error timeout.
func (e *IdleTimeoutError) Timeout() bool { return true }

// Temporary is part of net.Error; an idle timeout is not temporary.
func (e *IdleTimeoutError) Temporary() bool { return false }

var _ net.Error = (*IdleTimeoutError)(nil)

// idleBody cancels the request when no Read call has made progress for idle.
// One timer per response, no goroutine: armed when the headers arrive and on
// each Read entry, stopped when Read returns, so only time spent waiting on
// the upstream (or not reading at all before the first Read) counts, not
// the caller's own pace.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer
	done   atomic.Bool // released: the timer must not be re-armed
	once   sync.Once
}

func newIdleBody(ctx context.Context, rc io.ReadCloser, cancel context.CancelCauseFunc, idle time.Duration) *idleBody {
	b := &idleBody{rc: rc, ctx: ctx, cancel: cancel, idle: idle}
	b.timer = time.AfterFunc(idle, func() { cancel(&IdleTimeoutError{After: idle}) })
	return b
}

// Read reads from the upstream body, mapping a cancellation caused by the
// idle timer to *IdleTimeoutError.
func (b *idleBody) Read(p []byte) (int, error) {
	if !b.done.Load() {
		b.timer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil {
		var ite *IdleTimeoutError
		if errors.As(context.Cause(b.ctx), &ite) {
			return n, ite
		}
		if err == io.EOF {
			b.release()
		}
	}
	return n, err
}

// Close closes the upstream body and releases the timer and the context.
func (b *idleBody) Close() error {
	err := b.rc.Close()
	b.release()
	return err
}

// release stops the timer and frees the request context, once.
func (b *idleBody) release() {
	b.once.Do(func() {
		b.done.Store(true)
		b.timer.Stop()
		b.cancel(nil)
	})
}
